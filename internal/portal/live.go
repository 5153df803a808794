package portal

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
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
	// The stream outlives the deadline of a page's API calls: it lasts as long as the request.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	lists, opts := followed(r.URL.Query())
	changes, ended, watching := watchAll(ctx, q.v.Client, lists, opts)
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
	stream(ctx, w, flusher, changes, ended)
}

// followed is what a page's feed watches, from the feed's query.
func followed(query url.Values) ([]client.ObjectList, []client.ListOption) {
	switch {
	case query.Get("ns") != "":
		return []client.ObjectList{&v1alpha1.LicensePoolList{}, &v1alpha1.SeatAssignmentList{}, &v1alpha1.SharedSessionList{}},
			[]client.ListOption{client.InNamespace(query.Get("ns"))}
	case query.Get("scope") == "orders":
		return []client.ObjectList{&v1alpha1.CustomerOrderList{}, &v1alpha1.LicensePoolList{}}, nil
	}
	return []client.ObjectList{&v1alpha1.LicensePoolList{}}, nil
}

// watchAll watches each kind the viewer may read until ctx ends. It returns a channel that
// holds a signal while a change waits to be told, one that receives when a watch ends, and how
// many kinds it watches.
func watchAll(ctx context.Context, c client.WithWatch, lists []client.ObjectList, opts []client.ListOption) (<-chan struct{}, <-chan struct{}, int) {
	changes := make(chan struct{}, 1)
	ended := make(chan struct{}, len(lists))
	watching := 0
	for _, list := range lists {
		wi, err := watchFromNow(ctx, c, list, opts...)
		if err != nil {
			continue // not allowed to read this kind: nothing of it to follow
		}
		watching++
		go func() {
			defer wi.Stop()
			defer func() { ended <- struct{}{} }()
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
					default: // one signal stands for any number of changes
					}
				}
			}
		}()
	}
	return changes, ended, watching
}

// stream tells the page of changes, gathered for coalesce, until ctx or a watch ends.
func stream(ctx context.Context, w http.ResponseWriter, flusher http.Flusher, changes, ended <-chan struct{}) {
	tick := time.NewTicker(keepAlive)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ended:
			// A watch ended: tell the page (it may have missed a change), and end the feed so
			// that the browser opens a new one.
			fmt.Fprint(w, "event: change\ndata: reconnect\n\n")
			flusher.Flush()
			return
		case <-tick.C:
			fmt.Fprint(w, ": keep-alive\n\n")
			flusher.Flush()
		case <-changes:
			select {
			case <-ctx.Done():
				return
			case <-time.After(coalesce):
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
