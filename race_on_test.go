//go:build race

package presenced_test

// raceBuild: the race detector's build, whose frames and stack guard are
// larger (TestPresenceGetStack measures the ordinary build's).
const raceBuild = true
