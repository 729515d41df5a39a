package calendar

import (
	"errors"

	"github.com/presenced/presenced/presence"
)

func asError(err error, pe **presence.Error) bool { return errors.As(err, pe) }
