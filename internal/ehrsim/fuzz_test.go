package ehrsim

import "testing"

// FuzzParseNotification feeds arbitrary bytes to the notification parser:
// it must never panic, and whatever it accepts must have a notification
// type, a Subscription and positive event numbers matching that type.
func FuzzParseNotification(f *testing.F) {
	f.Add(notification("sub-1", TypeEvent, 2, 1, 2))
	f.Add(notification("sub-1", TypeHandshake, 0))
	f.Add(notification("sub-1", TypeHeartbeat, 7))
	f.Add([]byte(`{"resourceType":"Bundle","type":"history","entry":[{"resource":{"resourceType":"Parameters","parameter":[]}}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		st, err := parseNotification(body, "history")
		if err != nil {
			return
		}
		if st.subscriptionID == "" && st.subscription == "" {
			t.Fatalf("accepted a notification without a Subscription: %s", body)
		}
		if st.kind == TypeEvent && len(st.events) == 0 {
			t.Fatalf("accepted an event-notification without events: %s", body)
		}
		for _, ev := range st.events {
			if ev.Number < 1 {
				t.Fatalf("accepted event number %d: %s", ev.Number, body)
			}
		}
	})
}
