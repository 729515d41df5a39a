package mailbox

import (
	"time"

	"github.com/presenced/presenced/core"
)

// ScheduleForTest schedules u at t, as a write or the start-up walk does.
func (m *Mailbox) ScheduleForTest(u core.UserRef, t time.Time) { m.sched.add(u, t) }
