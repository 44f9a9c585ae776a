//go:build tools

// Package tools pins the kwok command Capstan runs; see ../kubernetes/tools.go.
package tools

import _ "sigs.k8s.io/kwok/cmd/kwok"
