package presence

// MaxIDs is the most user ids one request may name. Graph documents it for
// getPresencesByUserId ("up to 650 ids"); presenced applies the same limit,
// counted the same way, wherever a request names users: getPresencesByUserId's
// ids, a subscription's $filter=id in (…) and the live stream's ids.
const MaxIDs = 650

// CheckIDCount reports, as an Invalid error on field, a list of n user ids
// that is longer than MaxIDs. n counts every entry, a repeated id too: the
// limit is on what a request may say (as Graph's docs put it), not on the
// users it resolves to, so one list is refused or accepted alike by every
// endpoint. what names the list at the start of the message ("Property
// 'ids'").
func CheckIDCount(field, what string, n int) error {
	if n <= MaxIDs {
		return nil
	}
	return Errorf(Invalid, field, "%s has %d entries; at most %d are accepted (every entry counts, a repeated id too).", what, n, MaxIDs)
}
