//go:build tools

// Package tools pins the helm command Capstan runs; see ../kubernetes/tools.go.
package tools

import _ "helm.sh/helm/v3/cmd/helm"
