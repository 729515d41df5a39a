package reqlog

import (
	"context"
	"testing"
)

type other struct{}

// A Ctx answers From with its Info, passes any other key to its parent,
// and carries the parent's cancellation to contexts derived from it.
func TestCtx(t *testing.T) {
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), other{}, "v"))
	info := &Info{RequestID: "r"}
	var c Ctx
	c.Init(parent, info)
	if From(&c) != info {
		t.Fatal("From does not find the Info")
	}
	if c.Value(other{}) != "v" {
		t.Fatal("the parent's value is lost")
	}
	child, stop := context.WithCancel(&c)
	defer stop()
	SetCaller(child, "tenant", "app")
	if info.Tenant != "tenant" || info.App != "app" {
		t.Fatalf("SetCaller through a derived context: %+v", info)
	}
	cancel()
	<-child.Done() // the parent's cancellation reaches the child
	if From(context.Background()) != nil {
		t.Fatal("an Info without one")
	}
}
