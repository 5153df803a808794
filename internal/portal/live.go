package portal

import (
	"context"
	"fmt"
	"net/http"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

// coalesce is how long the live feed gathers changes before it tells the page: a pass of the
// operator writes several objects at once, and the page reloads its data once for them.
const coalesce = 100 * time.Millisecond

// keepAlive is how often an idle feed sends a comment, so that proxies keep the stream open.
const keepAlive = 20 * time.Second

// live is the feed of a page's changes, as Server-Sent Events: ns=NAME follows one account's
// pools, seats and sessions; scope=orders the orders and pools; scope=accounts the pools of all
// accounts. Each watch is made with the viewer's identity, so it sees only what they may read.
// When a change arrives the feed sends `event: change`, and the page fetches its data again.
// When a watch ends (the API server closes watches every few minutes) the feed ends too, and the
// browser's EventSource reconnects.
func (s *Server) live(q *req) {
	w, r := q.w, q.r
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()

	var lists []client.ObjectList
	var opts []client.ListOption
	switch query := r.URL.Query(); {
	case query.Get("ns") != "":
		opts = append(opts, client.InNamespace(query.Get("ns")))
		lists = []client.ObjectList{&v1alpha1.LicensePoolList{}, &v1alpha1.SeatAssignmentList{}, &v1alpha1.SharedSessionList{}}
	case query.Get("scope") == "orders":
		lists = []client.ObjectList{&v1alpha1.CustomerOrderList{}, &v1alpha1.LicensePoolList{}}
	default:
		lists = []client.ObjectList{&v1alpha1.LicensePoolList{}}
	}
	changes := make(chan struct{}, 1)
	done := make(chan struct{}, len(lists))
	watching := 0
	for _, list := range lists {
		wi, err := watchFromNow(ctx, q.v.Client, list, opts...)
		if err != nil {
			continue // not allowed to read this kind: nothing of it to follow
		}
		watching++
		go func() {
			defer wi.Stop()
			defer func() { done <- struct{}{} }()
			for {
				select {
				case <-ctx.Done():
					return
				case ev, ok := <-wi.ResultChan():
					if !ok || ev.Type == watch.Error {
						return
					}
					select {
					case changes <- struct{}{}:
					default:
					}
				}
			}
		}()
	}
	if watching == 0 {
		// Nothing this viewer may follow: 204 tells the browser's EventSource to stop asking.
		w.WriteHeader(http.StatusNoContent)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	// retry: how soon the browser reconnects after the feed ends.
	fmt.Fprintf(w, "retry: 500\n: watching %d kinds\n\n", watching)
	flusher.Flush()
	tick := time.NewTicker(keepAlive)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-done:
			// A watch ended: tell the page (it may have missed a change), and end the feed so
			// that the browser opens a new one.
			fmt.Fprint(w, "event: change\ndata: reconnect\n\n")
			flusher.Flush()
			return
		case <-tick.C:
			fmt.Fprint(w, ": keep-alive\n\n")
			flusher.Flush()
		case <-changes:
			timer := time.NewTimer(coalesce)
			select {
			case <-ctx.Done():
				timer.Stop()
				return
			case <-timer.C:
			}
			select {
			case <-changes:
			default:
			}
			fmt.Fprint(w, "event: change\ndata: {}\n\n")
			flusher.Flush()
		}
	}
}

// watchFromNow watches a kind from its current state on: a watch without a resourceVersion
// would begin by replaying every object as added.
func watchFromNow(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) (watch.Interface, error) {
	if err := c.List(ctx, list, append(opts, client.Limit(1))...); err != nil {
		return nil, err
	}
	raw := &metav1.ListOptions{ResourceVersion: list.GetResourceVersion()}
	return c.Watch(ctx, list, append(opts, &client.ListOptions{Raw: raw})...)
}
