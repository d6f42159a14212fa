package deploy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"edge-agent/bus"
)

// startMosquitto runs mosquitto with the shipped mosquitto.conf, changed only
// where a test must: the listener (loopback, a free port), the paths of the
// generated password file and ACL, the persistence directory, and the user
// to run as (the test's own, which can read the test's directories).
func startMosquitto(t *testing.T, secretsDir string) string {
	t.Helper()
	bin := need(t, "/usr/sbin/mosquitto")
	b, err := os.ReadFile("mosquitto.conf")
	if err != nil {
		t.Fatal(err)
	}
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	conf := rewrite(t, string(b),
		"\nlistener 1883\n", fmt.Sprintf("\nlistener %d 127.0.0.1\n", port),
		"password_file /mosquitto/config/passwd", "password_file "+filepath.Join(secretsDir, "mosquitto-passwd"),
		"acl_file /mosquitto/config/acl", "acl_file "+filepath.Join(secretsDir, "mosquitto-acl"),
		"persistence_location /mosquitto/data/", "persistence_location "+t.TempDir()+"/",
	) + "\nuser " + me.Username + "\n"
	path := filepath.Join(t.TempDir(), "mosquitto.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	p := start(t, bin, nil, "-c", path)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	waitListening(t, addr, p)
	return "tcp://" + addr
}

// mqttClient is a paho connection that collects what it receives.
type mqttClient struct {
	c    mqtt.Client
	msgs chan mqtt.Message
	lost chan error
}

func dialMQTT(url, user, password, clientID string) (*mqttClient, error) {
	m := &mqttClient{msgs: make(chan mqtt.Message, 256), lost: make(chan error, 1)}
	o := mqtt.NewClientOptions().AddBroker(url).SetClientID(clientID).
		SetUsername(user).SetPassword(password).SetCleanSession(true).
		SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(5 * time.Second).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			select {
			case m.lost <- err:
			default:
			}
		})
	m.c = mqtt.NewClient(o)
	tok := m.c.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		return nil, errTimeout
	}
	return m, tok.Error()
}

func connectMQTT(t *testing.T, url, user, password, clientID string) *mqttClient {
	t.Helper()
	m, err := dialMQTT(url, user, password, clientID)
	if err != nil {
		t.Fatalf("connect as %s: %v", user, err)
	}
	t.Cleanup(func() { m.c.Disconnect(100) })
	return m
}

func (m *mqttClient) subscribe(t *testing.T, filters ...string) {
	t.Helper()
	for _, f := range filters {
		tok := m.c.Subscribe(f, 1, func(_ mqtt.Client, msg mqtt.Message) { m.msgs <- msg })
		if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("subscribe %s: %v", f, tok.Error())
		}
	}
}

// publish sends at QoS 1 and waits for the broker's PUBACK: the broker has
// then routed or dropped the message, so anything published afterwards
// reaches each subscriber after it.
func (m *mqttClient) publish(t *testing.T, topic, payload string) {
	t.Helper()
	tok := m.c.Publish(topic, 1, false, payload)
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// until returns what arrives before the first message on topic (failing
// after 10 s): the sentinel that proves what came before it was all.
func (m *mqttClient) until(t *testing.T, topic string) []mqtt.Message {
	t.Helper()
	var before []mqtt.Message
	deadline := time.After(10 * time.Second)
	for {
		select {
		case msg := <-m.msgs:
			if msg.Topic() == topic {
				return before
			}
			before = append(before, msg)
		case <-deadline:
			t.Fatalf("nothing on %s within 10s", topic)
		}
	}
}

func topicsOf(msgs []mqtt.Message) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, m.Topic())
	}
	return out
}

func TestMosquittoRoles(t *testing.T) {
	_, s := sharedSecrets(t)
	url := startMosquitto(t, s.dir)
	agentEnv, op, rd, ha := s.env(t, "agent.env"), s.env(t, "operator.env"), s.env(t, "reader.env"), s.env(t, "homeassistant.env")
	cmdTopic := "edge-agent/" + device + "/cmd"

	t.Run("no login, no access", func(t *testing.T) {
		for _, c := range []struct{ user, password string }{
			{"", ""}, {"operator", "wrong"}, {"operator", s.passwords["reader_mqtt"]}, {"nobody", s.passwords["operator_mqtt"]},
		} {
			m, err := dialMQTT(url, c.user, c.password, "probe")
			if err == nil {
				m.c.Disconnect(0)
				t.Errorf("user %q with a wrong password connected", c.user)
			} else if !strings.Contains(err.Error(), "not Authorized") {
				t.Errorf("user %q: %v, want not authorized", c.user, err)
			}
		}
	})

	operator := connectMQTT(t, url, op["MQTT_USER"], op["MQTT_PASSWORD"], "op")
	operator.subscribe(t, cmdTopic+"/result")
	reader := connectMQTT(t, url, rd["MQTT_USER"], rd["MQTT_PASSWORD"], "rd")
	reader.subscribe(t, "edge-agent/#")
	home := connectMQTT(t, url, ha["MQTT_USER"], ha["MQTT_PASSWORD"], "ha")
	home.subscribe(t, "edge-agent/#", "homeassistant/#")

	t.Run("the agent publishes, announces itself and takes commands", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		agent, err := bus.NewMQTT(bus.MQTTConfig{
			Device: device, URL: url, StateDir: t.TempDir(), Cameras: []string{"cam1"},
			User: agentEnv["EDGE_MQTT_USER"], Password: agentEnv["EDGE_MQTT_PASSWORD"],
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- agent.Run(ctx) }()
		defer func() {
			cancel()
			if err := recv(t, done, 15*time.Second, "end of the agent's MQTT client"); err != nil {
				t.Errorf("agent: %v", err)
			}
		}()
		if err := agent.Ready(10 * time.Second); err != nil {
			t.Fatal(err)
		}
		// Discovery under homeassistant/, through the agent's ACL.
		home.until(t, "homeassistant/binary_sensor/"+device+"/connected/config")

		// A command from the operator, answered; then one from the reader
		// and one from Home Assistant, which the broker drops, and a
		// second from the operator, which is the next the agent sees.
		operator.publish(t, cmdTopic, `{"id":"m1","op":"get_config"}`)
		r := recv(t, agent.Commands(), 10*time.Second, "command at the agent")
		r.Answer(bus.Reply{ID: "m1", OK: true})
		var rep bus.Reply
		if m := recv(t, operator.msgs, 10*time.Second, "answer"); json.Unmarshal(m.Payload(), &rep) != nil || rep.ID != "m1" {
			t.Errorf("answer %s on %s", m.Payload(), m.Topic())
		}
		reader.publish(t, cmdTopic, `{"id":"from-reader","op":"get_config"}`)
		home.publish(t, cmdTopic, `{"id":"from-ha","op":"get_config"}`)
		operator.publish(t, cmdTopic, `{"id":"m2","op":"get_config"}`)
		r = recv(t, agent.Commands(), 10*time.Second, "second command")
		if !strings.Contains(string(r.Payload), `"m2"`) {
			t.Errorf("the agent took %s, want the operator's m2 (reader and Home Assistant may not command)", r.Payload)
		}
		r.Answer(bus.Reply{ID: "m2", OK: true})

		// An event, after the commands: the reader and Home Assistant get
		// it and saw neither the commands nor their answers.
		now := time.Now()
		var ids bus.IDs
		agent.Publish(&bus.Event{ID: ids.New(now), Device: device, Camera: "cam1", Seq: 1,
			CaptureTime: bus.Timestamp{Time: now}, CaptureClock: bus.ClockArrival, PublishTime: bus.Timestamp{Time: now},
			Width: 640, Height: 480, Model: bus.Model{Name: "m.onnx"}, Thresholds: bus.Thresholds{Confidence: 0.25, IoU: 0.45}})
		for who, c := range map[string]*mqttClient{"reader": reader, "homeassistant": home} {
			for _, m := range c.until(t, "edge-agent/"+device+"/cam1/detections") {
				if strings.Contains(m.Topic(), "/cmd") {
					t.Errorf("%s read %s", who, m.Topic())
				}
			}
		}
	})

	// The agent's login, now from a plain client: the agent's rights, not
	// the agent's code.
	agent := connectMQTT(t, url, agentEnv["EDGE_MQTT_USER"], agentEnv["EDGE_MQTT_PASSWORD"], "edge-agent-"+device)
	agent.subscribe(t, "edge-agent/+/cmd", "homeassistant/status")
	operator.subscribe(t, "edge-agent/#")

	t.Run("agent reads only its own commands", func(t *testing.T) {
		operator.publish(t, "edge-agent/other-box/cmd", `{"id":"x"}`)
		operator.publish(t, cmdTopic, `{"id":"mine"}`)
		if got := agent.until(t, cmdTopic); len(got) != 0 {
			t.Errorf("the agent read %v", topicsOf(got))
		}
	})

	t.Run("agent writes only its own topics", func(t *testing.T) {
		drain(operator.msgs)
		drain(home.msgs)
		for _, topic := range []string{"edge-agent/other-box/cmd", "edge-agent/other-box/cam1/detections",
			"edge-agent/other-box/status", "homeassistant/sensor/other-box/x/config"} {
			agent.publish(t, topic, "forged")
		}
		agent.publish(t, "edge-agent/"+device+"/status", "{}")
		agent.publish(t, "homeassistant/sensor/"+device+"/x/config", "")
		for who, c := range map[string]*mqttClient{"operator": operator, "homeassistant": home} {
			for _, m := range c.until(t, map[string]string{
				"operator": "edge-agent/" + device + "/status", "homeassistant": "homeassistant/sensor/" + device + "/x/config"}[who]) {
				if strings.Contains(m.Topic(), "other-box") {
					t.Errorf("%s got the agent's %s", who, m.Topic())
				}
			}
		}
	})

	t.Run("Home Assistant writes only its birth message", func(t *testing.T) {
		drain(home.msgs)
		home.publish(t, "homeassistant/sensor/"+device+"/fake/config", "forged")
		home.publish(t, "homeassistant/status", "online")
		if got := home.until(t, "homeassistant/status"); len(got) != 0 {
			t.Errorf("Home Assistant could publish %v", topicsOf(got))
		}
		// The agent hears it (it re-announces itself then).
		if m := recv(t, agent.msgs, 10*time.Second, "birth message at the agent"); m.Topic() != "homeassistant/status" {
			t.Errorf("the agent got %s", m.Topic())
		}
	})

	t.Run("client id pinned to the user", func(t *testing.T) {
		// Another user connecting with the agent's client ids gets its own
		// user name as client id instead, and the agent stays connected.
		reader.c.Disconnect(100)
		for _, id := range []string{device, "edge-agent-" + device} {
			c := connectMQTT(t, url, rd["MQTT_USER"], rd["MQTT_PASSWORD"], id)
			c.c.Disconnect(100)
		}
		drain(operator.msgs)
		agent.publish(t, "edge-agent/"+device+"/status", "still here")
		operator.until(t, "edge-agent/"+device+"/status")
		select {
		case err := <-agent.lost:
			t.Fatalf("another user took the agent's session: %v", err)
		default:
		}
		// The same user with any client id replaces the connection: the
		// session belongs to the user.
		connectMQTT(t, url, agentEnv["EDGE_MQTT_USER"], agentEnv["EDGE_MQTT_PASSWORD"], "any-id")
		recv(t, agent.lost, 10*time.Second, "the first agent connection's end")
	})
}

func drain(c chan mqtt.Message) {
	for {
		select {
		case <-c:
		default:
			return
		}
	}
}
