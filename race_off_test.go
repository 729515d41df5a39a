//go:build !race

package presenced_test

// raceBuild: see race_on_test.go.
const raceBuild = false
