#!/usr/bin/env bash
# Generates the edge box's credentials and the files through which NATS,
# mosquitto, MediaMTX and the agent read them (deploy/README.md, "Secrets").
#
#   deploy/secrets.sh [--dir DIR] [--env FILE] [--rotate] [DEVICE_ID]
#
# DEVICE_ID (EDGE_DEVICE_ID) defaults to the one in FILE (default deploy/.env),
# then to the last run's.
# Passwords are random (/dev/urandom), kept in DIR/passwords and reused on
# every later run; --rotate replaces them all. Every other file in DIR is
# written again from them on each run. DIR (default deploy/secrets) is mode
# 0700 and every file in it 0600. Nothing secret is printed.
#
# Needs bash, coreutils and Go (the hashes come from deploy/pwhash, built from
# this checkout's go.mod). Run as root, it hands mosquitto's two files to uid
# $MOSQUITTO_UID (default 1883, the mosquitto user of the eclipse-mosquitto
# image), which must read them.
set -euo pipefail
umask 077

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
dir=$here/secrets
envfile=$here/.env
device=
rotate=false

die() {
	echo "secrets.sh: $*" >&2
	exit 1
}

usage() {
	sed -n '5,6p' "${BASH_SOURCE[0]}" | sed 's/^# *//'
}

while (($#)); do
	case $1 in
	--dir) dir=${2:?--dir needs a directory}; shift 2 ;;
	--dir=*) dir=${1#*=}; shift ;;
	--env) envfile=${2:?--env needs a file}; shift 2 ;;
	--env=*) envfile=${1#*=}; shift ;;
	--rotate) rotate=true; shift ;;
	-h | --help) usage; exit 0 ;;
	-*) usage >&2; die "unknown option $1" ;;
	*) [[ -z $device ]] || die "one device id only (got $device and $1)"; device=$1; shift ;;
	esac
done

# envvalue FILE KEY prints KEY's value in an env file (the last one), without
# quotes or a trailing comment; nothing when the file or the key is missing.
envvalue() {
	[[ -r $1 ]] || return 0
	local v
	v=$(grep -E "^[[:space:]]*$2=" "$1" | tail -n 1 | cut -d= -f2-) || return 0
	v=${v%%[[:space:]]#*}
	v=${v%"${v##*[![:space:]]}"}
	v=${v#\"}; v=${v%\"}; v=${v#\'}; v=${v%\'}
	printf '%s' "$v"
}

[[ -n $device ]] || device=$(envvalue "$envfile" EDGE_DEVICE_ID)
[[ -n $device ]] || device=$(envvalue "$dir/agent.env" EDGE_DEVICE_ID)
[[ -n $device ]] || die "no device id: give it (deploy/secrets.sh porch-box) or set EDGE_DEVICE_ID in $envfile"

# The agent's own rule for ids (bus.ValidToken): they become subject tokens,
# topic levels and, here, user names.
token='^[A-Za-z0-9_-]{1,64}$'
[[ $device =~ $token ]] || die "device id \"$device\" must be 1-64 letters, digits, '-' or '_'"
mosquitto_uid=${MOSQUITTO_UID:-1883}
[[ $mosquitto_uid =~ ^[0-9]+$ ]] || die "MOSQUITTO_UID \"$mosquitto_uid\" is not a numeric uid"
case $device in
operator | reader | homeassistant | viewer | agent | any)
	die "device id \"$device\" is the name of another user of the stack; choose another" ;;
esac

# Every password: role_service. agent_stream and viewer_stream are MediaMTX's.
roles=(agent_nats agent_mqtt agent_stream operator_nats operator_mqtt
	reader_nats reader_mqtt homeassistant_mqtt viewer_stream)

mkdir -p "$dir"
chmod 0700 "$dir"

newpassword() {
	local raw=
	while ((${#raw} < 32)); do
		raw+=$(head -c 48 /dev/urandom | base64 -w 0 | tr -dc 'A-Za-z0-9')
	done
	printf '%s' "${raw:0:32}"
}

declare -A pw=()
kept=0
if [[ -f $dir/passwords ]] && ! $rotate; then
	while IFS='=' read -r k v; do
		[[ -z $k || $k == \#* ]] && continue
		[[ $v =~ ^[A-Za-z0-9]{32,}$ ]] || die "$dir/passwords: $k is not a password this script wrote; fix it or run with --rotate"
		pw[$k]=$v
	done <"$dir/passwords"
fi
made=0
for r in "${roles[@]}"; do
	if [[ -n ${pw[$r]:-} ]]; then
		kept=$((kept + 1))
	else
		pw[$r]=$(newpassword)
		made=$((made + 1))
	fi
done

# put NAME writes stdin to DIR/NAME, mode 0600, replacing it in one rename.
put() {
	local tmp
	tmp=$(mktemp "$dir/.$1.XXXXXX")
	cat >"$tmp"
	chmod 0600 "$tmp"
	mv -f "$tmp" "$dir/$1"
}

{
	echo "# deploy/secrets.sh: the stack's passwords (role_service=password). No service"
	echo "# reads this file; the others in this directory are made from it."
	for r in "${roles[@]}"; do echo "$r=${pw[$r]}"; done
} | put passwords

# Hashes, in the order asked (deploy/pwhash reads them on stdin).
hashes=$(
	cd "$repo" && printf '%s\n' \
		"bcrypt ${pw[agent_nats]}" "bcrypt ${pw[operator_nats]}" "bcrypt ${pw[reader_nats]}" \
		"mosquitto ${pw[agent_mqtt]}" "mosquitto ${pw[operator_mqtt]}" \
		"mosquitto ${pw[reader_mqtt]}" "mosquitto ${pw[homeassistant_mqtt]}" \
		"sha256 ${pw[agent_stream]}" "sha256 ${pw[viewer_stream]}" |
		go run ./deploy/pwhash
) || die "hashing failed: deploy/pwhash needs Go (see deploy/README.md, \"Secrets\")"
mapfile -t h <<<"$hashes"
((${#h[@]} == 9)) || die "deploy/pwhash gave ${#h[@]} hashes, want 9"

stream=EDGE_$device

# --- NATS (included by nats.conf as secrets/nats-auth.conf) -----------------
# JetStream API subjects: nats-server's server/jetstream_api.go. Stream and
# consumer names are whole subject tokens, so each grant names this device's
# stream; a wildcard there would also cover other streams of the account.
put nats-auth.conf <<EOF
# Generated by deploy/secrets.sh for device $device; rewritten on every run,
# so change the script, not this file. nats.conf includes it. There is no
# anonymous or default user: a client without a login is refused.
# Where the roles are the same, the grants are the agent's embedded server's
# (bus/natsserver.go); operator and reader here also reach other devices'
# subjects, for a server that several agents share.
authorization {
  users: [
    # The agent (EDGE_NATS_USER): its detection and object events (into its
    # stream) and heartbeat,
    # the JetStream API calls that create, update or read its stream
    # EDGE_$device, its commands. It answers through allow_responses: one
    # message to the reply subject of each request it received, within 10
    # minutes (loading a model may be slow); the agent itself refuses reply
    # subjects that are not inboxes. Acks and API answers come to its inbox:
    # _INBOX. (nats.go's default) or _INBOX_edge_agent (bus/natsserver.go).
    {
      user: "$device"
      password: "${h[0]}"
      permissions: {
        publish: {
          allow: [
            "edge.$device.*.detections"
            "edge.$device.*.objects"
            "edge.$device.status"
            "\$JS.API.STREAM.CREATE.$stream"
            "\$JS.API.STREAM.UPDATE.$stream"
            "\$JS.API.STREAM.INFO.$stream"
            # The fleet (docs/fleet.md, EDGE_FLEET): watch edge_config,
            # put its own heartbeat into edge_status; never create them.
            "\$JS.API.STREAM.INFO.KV_edge_config"
            "\$JS.API.CONSUMER.CREATE.KV_edge_config.*"
            "\$JS.API.CONSUMER.DELETE.KV_edge_config.*"
            "\$JS.FC.KV_edge_config.>"
            "\$JS.API.STREAM.INFO.KV_edge_status"
            "\$KV.edge_status.device.$device"
          ]
        }
        # Its commands, and the edge-agent micro service: its endpoints and
        # the discovery subjects (docs/commands.md).
        subscribe: {
          allow: ["edge.$device.cmd", "edge.fleet.cmd", "_INBOX.>", "_INBOX_edge_agent.>",
            "edge.$device.svc.*",
            "\$SRV.PING", "\$SRV.PING.edge-agent", "\$SRV.PING.edge-agent.*",
            "\$SRV.INFO", "\$SRV.INFO.edge-agent", "\$SRV.INFO.edge-agent.*",
            "\$SRV.STATS", "\$SRV.STATS.edge-agent", "\$SRV.STATS.edge-agent.*"]
        }
        allow_responses: { max: 1, expires: "10m" }
      }
    }
    # The operator: commands to one agent or the fleet, everything the agents
    # publish, the stream through consumers (and deleting them), stream
    # names and info. Not: create, change, purge or delete a stream, delete
    # a message. Its answers come to its own inbox prefix, _INBOX.operator
    # (nats --inbox-prefix _INBOX.operator, nats.go CustomInboxPrefix).
    {
      user: "operator"
      password: "${h[1]}"
      permissions: {
        publish: {
          allow: [
            "edge.*.cmd"
            "edge.fleet.cmd"
            "\$JS.API.INFO"
            "\$JS.API.STREAM.NAMES"
            "\$JS.API.STREAM.LIST"
            "\$JS.API.STREAM.INFO.$stream"
            "\$JS.API.STREAM.MSG.GET.$stream"
            "\$JS.API.CONSUMER.CREATE.$stream"
            "\$JS.API.CONSUMER.CREATE.$stream.>"
            "\$JS.API.CONSUMER.INFO.$stream.*"
            "\$JS.API.CONSUMER.MSG.NEXT.$stream.*"
            "\$JS.API.CONSUMER.DELETE.$stream.*"
            "\$JS.ACK.$stream.>"
            "\$JS.ACK.*.*.$stream.>"
            # The micro service's endpoints and discovery.
            "edge.*.svc.*"
            "\$SRV.>"
            # The fleet's buckets (edgectl init, set, get, status, devices).
            "\$JS.API.STREAM.CREATE.KV_edge_config"
            "\$JS.API.STREAM.UPDATE.KV_edge_config"
            "\$JS.API.STREAM.INFO.KV_edge_config"
            "\$JS.API.STREAM.CREATE.KV_edge_status"
            "\$JS.API.STREAM.UPDATE.KV_edge_status"
            "\$JS.API.STREAM.INFO.KV_edge_status"
            "\$JS.API.CONSUMER.CREATE.KV_edge_config.>"
            "\$JS.API.CONSUMER.CREATE.KV_edge_status.>"
            "\$JS.API.CONSUMER.DELETE.KV_edge_config.*"
            "\$JS.API.CONSUMER.DELETE.KV_edge_status.*"
            "\$JS.API.DIRECT.GET.KV_edge_config.>"
            "\$JS.API.DIRECT.GET.KV_edge_status.>"
            "\$JS.API.STREAM.MSG.GET.KV_edge_config"
            "\$JS.API.STREAM.MSG.GET.KV_edge_status"
            "\$JS.FC.KV_edge_config.>"
            "\$JS.FC.KV_edge_status.>"
            "\$KV.edge_config.>"
          ]
        }
        subscribe: {
          allow: ["edge.>", "_INBOX.operator.>"]
        }
      }
    }
    # The reader: events and heartbeats, live or from the stream through
    # consumers it creates. Not commands, not their answers, nothing that
    # changes the stream or deletes a consumer. Inbox prefix _INBOX.reader.
    {
      user: "reader"
      password: "${h[2]}"
      permissions: {
        publish: {
          allow: [
            "\$JS.API.STREAM.INFO.$stream"
            "\$JS.API.STREAM.MSG.GET.$stream"
            "\$JS.API.CONSUMER.CREATE.$stream"
            "\$JS.API.CONSUMER.CREATE.$stream.>"
            "\$JS.API.CONSUMER.INFO.$stream.*"
            "\$JS.API.CONSUMER.MSG.NEXT.$stream.*"
            "\$JS.ACK.$stream.>"
            "\$JS.ACK.*.*.$stream.>"
            # Discovery (the micro service's PING, INFO, STATS) and the
            # devices' status in edge_status, read only.
            "\$SRV.PING", "\$SRV.PING.edge-agent", "\$SRV.PING.edge-agent.*"
            "\$SRV.INFO", "\$SRV.INFO.edge-agent", "\$SRV.INFO.edge-agent.*"
            "\$SRV.STATS", "\$SRV.STATS.edge-agent", "\$SRV.STATS.edge-agent.*"
            "\$JS.API.STREAM.INFO.KV_edge_status"
            "\$JS.API.CONSUMER.CREATE.KV_edge_status.>"
            "\$JS.API.DIRECT.GET.KV_edge_status.>"
            "\$JS.FC.KV_edge_status.>"
          ]
        }
        subscribe: {
          allow: ["edge.*.*.detections", "edge.*.*.objects", "edge.*.status", "_INBOX.reader.>"]
        }
      }
    }
  ]
}
EOF

# --- mosquitto ---------------------------------------------------------------
{
	echo "$device:${h[3]}"
	echo "operator:${h[4]}"
	echo "reader:${h[5]}"
	echo "homeassistant:${h[6]}"
} | put mosquitto-passwd

# Topics: docs/events.md (prefix edge-agent, discovery prefix homeassistant,
# the agent's defaults). "deny" lines win over grants (mosquitto.conf(5)).
put mosquitto-acl <<EOF
# Generated by deploy/secrets.sh for device $device; rewritten on every run.
# No line before the first "user": anonymous clients (refused anyway) get nothing.

# The agent: its own topics, its Home Assistant discovery; reads only its
# commands and Home Assistant's birth message.
user $device
topic write edge-agent/$device/#
topic read edge-agent/$device/cmd
topic write homeassistant/+/$device/#
topic read homeassistant/status

# The operator: commands to any agent, everything the agents publish.
user operator
topic write edge-agent/+/cmd
topic read edge-agent/#

# Read only: events, counts, status, availability. Not commands or their
# answers (a command may carry a camera URL with its password).
user reader
topic deny edge-agent/+/cmd/#
topic read edge-agent/#

# Home Assistant: what the reader reads, the discovery configs, and its own
# birth message (homeassistant/status). It cannot send commands.
user homeassistant
topic deny edge-agent/+/cmd/#
topic read edge-agent/#
topic read homeassistant/#
topic write homeassistant/status
EOF

# --- MediaMTX: deploy/mediamtx.yml with the real hashes in place of its
# placeholders (which match no password, so the shipped file alone lets no
# one publish or watch).
template=$(<"$here/mediamtx.yml")
for p in 'sha256:SET+BY+secrets+sh/agent=' 'sha256:SET+BY+secrets+sh/viewer='; do
	[[ $template == *"$p"* ]] || die "$here/mediamtx.yml lost its placeholder $p"
done
template=${template//'sha256:SET+BY+secrets+sh/agent='/"${h[7]}"}
template=${template//'sha256:SET+BY+secrets+sh/viewer='/"${h[8]}"}
{
	echo "# Generated by deploy/secrets.sh from deploy/mediamtx.yml (edit that one and rerun)."
	printf '%s\n' "$template"
} | put mediamtx.yml

# --- The agent and the people ---------------------------------------------------
put agent.env <<EOF
# Generated by deploy/secrets.sh: the agent's credentials (compose reads this
# file after .env, so these win). Keep it secret.
EDGE_DEVICE_ID=$device
EDGE_NATS_USER=$device
EDGE_NATS_PASSWORD=${pw[agent_nats]}
EDGE_MQTT_USER=$device
EDGE_MQTT_PASSWORD=${pw[agent_mqtt]}
EDGE_OUTPUT_USER=agent
EDGE_OUTPUT_PASSWORD=${pw[agent_stream]}
EOF

put operator.env <<EOF
# Generated by deploy/secrets.sh: the operator (sends commands, reads
# everything the agents publish). NATS clients use the inbox prefix
# _INBOX.operator. Use: set -a; . ./operator.env; set +a
NATS_USER=operator
NATS_PASSWORD=${pw[operator_nats]}
MQTT_USER=operator
MQTT_PASSWORD=${pw[operator_mqtt]}
EOF

put reader.env <<EOF
# Generated by deploy/secrets.sh: read-only (events and status). NATS clients
# use the inbox prefix _INBOX.reader.
NATS_USER=reader
NATS_PASSWORD=${pw[reader_nats]}
MQTT_USER=reader
MQTT_PASSWORD=${pw[reader_mqtt]}
EOF

put homeassistant.env <<EOF
# Generated by deploy/secrets.sh: Home Assistant's MQTT login.
MQTT_USER=homeassistant
MQTT_PASSWORD=${pw[homeassistant_mqtt]}
EOF

put viewer.env <<EOF
# Generated by deploy/secrets.sh: watching the streams (RTSP, HLS, WebRTC).
STREAM_USER=viewer
STREAM_PASSWORD=${pw[viewer_stream]}
EOF

# compose.yml requires this file for every service, so that `docker compose
# up` refuses to start anything before this script ran. Nothing secret.
put stack.env <<EOF
# Generated by deploy/secrets.sh (nothing secret).
EDGE_SECRETS_DEVICE=$device
EOF

if ((EUID == 0)); then
	chown "$mosquitto_uid" "$dir/mosquitto-passwd" "$dir/mosquitto-acl"
fi

cat <<EOF
secrets.sh: device $device: $kept passwords kept, $made new, in $dir
  agent.env          the agent's logins (compose reads it after .env)
  operator.env       operator: sends commands, reads everything (NATS, MQTT)
  reader.env         reader: events and status only (NATS, MQTT)
  homeassistant.env  Home Assistant's MQTT login
  viewer.env         viewer: watches the streams (RTSP, HLS, WebRTC)
  nats-auth.conf, mosquitto-passwd, mosquitto-acl, mediamtx.yml, stack.env: read by the services
EOF
if ((EUID != 0)); then
	echo "  mosquitto must read mosquitto-passwd and mosquitto-acl: sudo chown $mosquitto_uid $dir/mosquitto-passwd $dir/mosquitto-acl"
else
	echo "  mosquitto-passwd and mosquitto-acl belong to uid $mosquitto_uid (MOSQUITTO_UID), mosquitto's"
fi
if ((made > 0 && kept > 0)) || $rotate; then
	echo "  new passwords: recreate the services so they read them (docker compose up -d --force-recreate)"
fi
