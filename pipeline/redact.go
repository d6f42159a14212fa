package pipeline

import "edge-agent/internal/redact"

// Redact returns raw with its credentials (a password in the user info,
// key=value credentials in the path or query) replaced by "xxxxx", for logs and
// error messages: see redact.URL, the project's one redactor.
func Redact(raw string) string { return redact.URL(raw) }
