package postfixtest

import (
	"net"
	"testing"
	"time"
)

// TestStart: a message for a relay that does not answer stays in the
// queue, deferred, and the queue listing shows it.
func TestStart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close() // nothing listens there now
	s := Start(t, Options{RelayPort: port})
	se := s.Dial(t)
	if err := se.Send("a@example.com", []string{"journal@archive.test"}, []byte("Subject: hi\r\n\r\nbody\r\n")); err != nil {
		t.Fatal(err)
	}
	if err := se.Close(); err != nil {
		t.Fatal(err)
	}
	var q []QueuedMessage
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		q = s.Queue(t)
		if len(q) == 1 && len(q[0].Recipients) == 1 && q[0].Recipients[0].DelayReason != "" {
			break
		}
	}
	if len(q) != 1 || q[0].Sender != "a@example.com" || len(q[0].Recipients) != 1 || q[0].Recipients[0].Address != "journal@archive.test" {
		t.Fatalf("queue %+v; want the one message, deferred\n%s", q, s.Log())
	}
	if q[0].Recipients[0].DelayReason == "" {
		t.Errorf("no delay reason: %+v", q[0])
	}
	s.Flush(t)
}
