package bus

import (
	"errors"
	"strings"
	"testing"
)

// ParseCommandAs: the envelope of edge.<device>.cmd where the subject
// implies the operation (a micro service endpoint).
func TestParseCommandAs(t *testing.T) {
	tests := []struct {
		name, payload, op string
		wantID, wantOp    string
		wantErr           string // substring; empty means valid
	}{
		// op "" is ParseCommand: id and op required.
		{name: "no op implied", payload: `{"id":"a","op":"get_config"}`, wantID: "a", wantOp: OpGetConfig},
		{name: "no op implied, op missing", payload: `{"id":"a"}`, wantID: "a", wantErr: "op: required"},
		{name: "no op implied, id missing", payload: `{"op":"get_config"}`, wantErr: "id: required"},
		{name: "no op implied, empty payload", payload: ``, wantErr: "payload: want a JSON object"},

		// The endpoint's op: op and id may be left out; {} and an empty
		// payload are a whole get_config or list_cameras.
		{name: "empty object", payload: `{}`, op: OpGetConfig, wantOp: OpGetConfig},
		{name: "empty payload", payload: ``, op: OpListCameras, wantOp: OpListCameras},
		{name: "blank payload", payload: " \n", op: OpGetConfig, wantOp: OpGetConfig},
		{name: "op given, the same", payload: `{"id":"b","op":"get_config"}`, op: OpGetConfig, wantID: "b", wantOp: OpGetConfig},
		{name: "null op is left out", payload: `{"op":null}`, op: OpGetConfig, wantOp: OpGetConfig},
		{name: "args without op", payload: `{"args":{"confidence":0.5}}`, op: OpSetThresholds, wantOp: OpSetThresholds},
		{name: "id and args", payload: `{"id":"c","args":{"name":"yard"}}`, op: OpRemoveCamera, wantID: "c", wantOp: OpRemoveCamera},
		{name: "expires kept", payload: `{"expires":"2030-01-02T15:04:05Z"}`, op: OpGetConfig, wantOp: OpGetConfig},

		// Refused.
		{name: "op differs", payload: `{"id":"d","op":"set_classes","args":{"classes":[]}}`, op: OpGetConfig, wantID: "d",
			wantErr: `op: "set_classes" is not "get_config", the operation of the subject it was sent to`},
		// The mismatch is named before the other op's args are read.
		{name: "op differs, bad args", payload: `{"op":"set_thresholds","args":{"confidence":7}}`, op: OpGetConfig,
			wantErr: `op: "set_thresholds" is not "get_config"`},
		{name: "op of another case", payload: `{"OP":"get_config"}`, op: OpGetConfig, wantErr: `unknown field "OP"`},
		{name: "op twice", payload: `{"op":"get_config","op":"get_config"}`, op: OpGetConfig, wantErr: `duplicate field "op"`},
		{name: "op not a string", payload: `{"op":5}`, op: OpGetConfig, wantErr: "op: want a string"},
		{name: "bad id", payload: `{"id":"a b"}`, op: OpGetConfig, wantErr: "id: 1-64 printable characters without spaces, or left out"},
		{name: "args of the op checked", payload: `{}`, op: OpSetThresholds, wantErr: "args: set confidence, iou or both"},
		{name: "empty payload needs args", payload: ``, op: OpRemoveCamera, wantErr: "args.name: required"},
		{name: "unknown field", payload: `{"camera":"x"}`, op: OpGetConfig, wantErr: `unknown field "camera"`},
		{name: "not an object", payload: `[]`, op: OpGetConfig, wantErr: "payload: want a JSON object"},
		{name: "unknown implied op", payload: `{}`, op: "reboot", wantErr: `op: unknown operation "reboot"`},
		{name: "oversize", payload: `{"pad":"` + strings.Repeat("a", MaxCommandSize) + `"}`, op: OpGetConfig,
			wantErr: "more than the 65536 allowed"},
		{name: "blank oversize", payload: strings.Repeat(" ", MaxCommandSize+1), op: OpGetConfig,
			wantErr: "more than the 65536 allowed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd, err := ParseCommandAs([]byte(tc.payload), tc.op)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, ErrCommand) {
					t.Fatalf("error %v, want one with %q wrapping ErrCommand", err, tc.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			} else if cmd.Op != tc.wantOp {
				t.Errorf("op %q, want %q", cmd.Op, tc.wantOp)
			}
			if cmd.ID != tc.wantID {
				t.Errorf("id %q, want %q", cmd.ID, tc.wantID)
			}
		})
	}
}

// With no op implied, ParseCommandAs answers exactly what ParseCommand
// does, on the test cases of TestParseCommand's kind.
func TestParseCommandAsNoOp(t *testing.T) {
	for _, p := range []string{
		`{"id":"a1","op":"get_config"}`,
		`{"id":"t","op":"set_thresholds","args":{"confidence":0.5,"iou":1}}`,
		`{"id":"x","op":"set_thresholds","args":{"confidence":2}}`,
		`{"op":"get_config"}`,
		`{}`,
		``,
		`{"id":"a","op":"get_config"} trailing`,
	} {
		want, wantErr := ParseCommand([]byte(p))
		got, gotErr := ParseCommandAs([]byte(p), "")
		if got.ID != want.ID || got.Op != want.Op || errString(gotErr) != errString(wantErr) {
			t.Errorf("%s: ParseCommandAs %+v %v, ParseCommand %+v %v", p, got, gotErr, want, wantErr)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
