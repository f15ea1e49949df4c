package config

import _ "embed"

// Example is the documented configuration file printed by
// `kurier config example`; a test keeps it equal to Default.
//
//go:embed example.yaml
var Example string
