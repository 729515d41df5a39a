//go:build !linux

package presenced_test

import "time"

// streamClientsEpoll is nil where there is no epoll: the 10,000-stream
// case's clients read with a goroutine each (sseClient).
var streamClientsEpoll func(rawURL string, first, n int, initial func(), event func(i int, at, sock time.Time, line []byte), flush func()) error

// webhookReceiverEpoll is nil where there is no epoll: the webhook cases'
// receiver is net/http's server in the benchmark's process.
var webhookReceiverEpoll func(ready func(addr string), notification func(i int, at time.Time), flush func()) error
