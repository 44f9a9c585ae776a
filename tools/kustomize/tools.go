//go:build tools

// Package tools pins the kustomize command Capstan runs; see ../kubernetes/tools.go.
package tools

import _ "sigs.k8s.io/kustomize/kustomize/v5"
