package benchenv

import "testing"

func TestInt(t *testing.T) {
	const name = "PRESENCED_BENCHENV_TEST"
	for _, c := range []struct {
		set      string
		def, min int
		want     int
	}{
		{"", 7, 1, 7},
		{"12", 7, 1, 12},
		{"0", 7, 1, 7},
		{"0", 7, 0, 0},
		{"-3", 7, 1, 7},
		{"x", 7, 1, 7},
		{"63", 1000, 64, 1000},
		{"64", 1000, 64, 64},
	} {
		t.Setenv(name, c.set)
		if got := Int(name, c.def, c.min); got != c.want {
			t.Errorf("%s=%q, Int(def %d, min %d) = %d, want %d", name, c.set, c.def, c.min, got, c.want)
		}
	}
}
