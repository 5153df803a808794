package integration

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

// watchRun is a watch of one kind of object in a namespace that sees every change, in
// resourceVersion order, until it is ended.
type watchRun struct {
	events atomic.Int64
	err    atomic.Value // the watch's error event, if any: the observation is then incomplete
	stop   context.CancelFunc
	done   chan struct{}
}

// watchEvery passes every change to the namespace's objects of list's kind to handle, from one
// goroutine, in resourceVersion order, until the run is ended.
func watchEvery(ns string, list client.ObjectList, handle func(watch.EventType, client.Object)) *watchRun {
	GinkgoHelper()
	wc, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	ctx, cancel := context.WithCancel(context.Background())
	w, err := wc.Watch(ctx, list, client.InNamespace(ns))
	Expect(err).NotTo(HaveOccurred())
	r := &watchRun{stop: cancel, done: make(chan struct{})}
	DeferCleanup(cancel) // when the spec fails before it ends the run
	go func() {
		defer close(r.done)
		lastRV := ""
		for {
			for ev := range w.ResultChan() {
				obj, ok := ev.Object.(client.Object)
				if !ok || ev.Type == watch.Error {
					if ctx.Err() == nil {
						r.err.Store(fmt.Sprintf("watch error: %v", ev.Object))
					}
					w.Stop()
					return
				}
				r.events.Add(1)
				lastRV = obj.GetResourceVersion()
				handle(ev.Type, obj)
			}
			w.Stop()
			if ctx.Err() != nil {
				return
			}
			// The server may end a watch at any time; carry on from the last version seen,
			// as an informer does, so that no change goes unobserved.
			w, err = wc.Watch(ctx, list, client.InNamespace(ns), &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: lastRV}})
			if err != nil {
				// Stop may cancel ctx between the check above and this call: that is the end of
				// the observation, not a gap in it.
				if ctx.Err() == nil {
					r.err.Store(fmt.Sprintf("rewatch from %s: %v", lastRV, err))
				}
				return
			}
		}
	}()
	return r
}

// end stops the watch. It fails the spec if the watch broke off, since the observation would
// then prove nothing.
func (r *watchRun) end() {
	GinkgoHelper()
	r.stop()
	<-r.done
	Expect(r.err.Load()).To(BeNil(), "the observer's watch must see every change")
	Expect(r.events.Load()).To(BeNumerically(">", 0))
}

// holdObserver watches every change to a namespace's seats or sessions and records the largest
// number holding a licence at any version: what any client could ever have read.
type holdObserver struct {
	run *watchRun
	max atomic.Int64
}

func observeHolders(ns string, list client.ObjectList, holds func(client.Object) bool) *holdObserver {
	GinkgoHelper()
	o := &holdObserver{}
	held := map[string]bool{}
	n := int64(0)
	o.run = watchEvery(ns, list, func(typ watch.EventType, obj client.Object) {
		h := holds(obj) && typ != watch.Deleted
		if h != held[obj.GetName()] {
			if h {
				n++
			} else {
				n--
			}
		}
		held[obj.GetName()] = h
		if n > o.max.Load() {
			o.max.Store(n)
		}
	})
	return o
}

// Stop ends the observation and returns the most holders seen at once.
func (o *holdObserver) Stop() int64 {
	GinkgoHelper()
	o.run.end()
	return o.max.Load()
}

func seatHolds(obj client.Object) bool {
	return obj.(*v1.SeatAssignment).Status.Phase == v1.SeatBound
}

func sessionHolds(obj client.Object) bool {
	return obj.(*v1.SharedSession).Status.Phase == v1.SessionActive
}

// createConcurrently creates n objects from workers goroutines.
func createConcurrently(n, workers int, create func(i int) client.Object) {
	GinkgoHelper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	next := atomic.Int64{}
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := k8s.Create(ctx, create(i)); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		Expect(err).NotTo(HaveOccurred())
	}
}

var _ = Describe("No over-grant", Label("race"), func() {
	It("binds at most 100 of 300 seats created at once from 20 goroutines", func() {
		ns := newNamespace()
		obs := observeHolders(ns, &v1.SeatAssignmentList{}, seatHolds)
		newPool(ns, "p", int32p(100), nil)
		createConcurrently(300, 20, func(i int) client.Object {
			return &v1.SeatAssignment{ObjectMeta: objMeta(ns, fmt.Sprintf("seat-%03d", i)),
				Spec: v1.SeatAssignmentSpec{PoolName: "p", Assignee: v1.Assignee{Name: fmt.Sprintf("user-%03d", i)}}}
		})
		Eventually(func(g Gomega) {
			items := seatsIn(g, ns)
			g.Expect(countSeats(items, v1.SeatBound)).To(Equal(100))
			g.Expect(countSeats(items, v1.SeatPending)).To(Equal(200))
		}, 60*time.Second).Should(Succeed())
		most := obs.Stop()
		fmt.Fprintf(GinkgoWriter, "seat storm: most Bound at any resourceVersion = %d (limit 100)\n", most)
		AddReportEntry("seat storm max Bound", most)
		Expect(most).To(BeNumerically("<=", 100))
	})

	It("keeps to the limits with two operators at once and one restarting", func() {
		ns := newNamespace()
		seatObs := observeHolders(ns, &v1.SeatAssignmentList{}, seatHolds)
		sessObs := observeHolders(ns, &v1.SharedSessionList{}, sessionHolds)
		newPool(ns, "p", int32p(40), int32p(50))

		second, stopSecond := context.WithCancel(context.Background())
		startManager(second, "second")

		createConcurrently(150, 20, func(i int) client.Object {
			return &v1.SeatAssignment{ObjectMeta: objMeta(ns, fmt.Sprintf("seat-%03d", i)),
				Spec: v1.SeatAssignmentSpec{PoolName: "p", Assignee: v1.Assignee{Name: fmt.Sprintf("user-%03d", i)}}}
		})
		createConcurrently(250, 20, func(i int) client.Object {
			return &v1.SharedSession{ObjectMeta: objMeta(ns, fmt.Sprintf("sess-%03d", i)),
				Spec: v1.SharedSessionSpec{PoolName: "p", Holder: fmt.Sprintf("agent-%03d", i)}}
		})
		By("restarting the second operator in the middle")
		stopSecond()
		third, stopThird := context.WithCancel(context.Background())
		DeferCleanup(stopThird)
		startManager(third, "third")
		createConcurrently(250, 20, func(i int) client.Object {
			return &v1.SharedSession{ObjectMeta: objMeta(ns, fmt.Sprintf("sess-%03d", 250+i)),
				Spec: v1.SharedSessionSpec{PoolName: "p", Holder: fmt.Sprintf("agent-%03d", 250+i), Priority: int32(i % 3)}}
		})
		By("freeing licences while both run")
		for i := range 20 {
			patchSpec(getSession(Default, ns, fmt.Sprintf("sess-%03d", i)), `{"spec":{"terminate":true}}`)
			Expect(k8s.Delete(ctx, getSeat(Default, ns, fmt.Sprintf("seat-%03d", i)))).To(Succeed())
		}
		Eventually(func(g Gomega) {
			seats := seatsIn(g, ns)
			g.Expect(seats).To(HaveLen(130))
			g.Expect(countSeats(seats, v1.SeatBound)).To(Equal(40))
			g.Expect(countSeats(seats, v1.SeatPending)).To(Equal(90))
			sessions := sessionsIn(g, ns)
			g.Expect(sessions).To(HaveLen(500))
			g.Expect(countSessions(sessions, v1.SessionActive)).To(Equal(50))
			g.Expect(countSessions(sessions, v1.SessionEnded)).To(Equal(20))
			g.Expect(countSessions(sessions, v1.SessionWaiting)).To(Equal(430))
			for _, s := range sessions {
				g.Expect(s.Status.Message).NotTo(BeEmpty(), s.Name)
			}
			for _, s := range seats {
				g.Expect(s.Status.Reason).NotTo(BeEmpty(), s.Name)
			}
		}, 90*time.Second).Should(Succeed())
		mostSeats, mostSessions := seatObs.Stop(), sessObs.Stop()
		fmt.Fprintf(GinkgoWriter, "two operators: most Bound = %d (limit 40), most Active = %d (limit 50)\n", mostSeats, mostSessions)
		AddReportEntry("two operators max Bound/Active", fmt.Sprintf("%d/%d", mostSeats, mostSessions))
		Expect(mostSeats).To(BeNumerically("<=", 40))
		Expect(mostSessions).To(BeNumerically("<=", 50))
	})
})

var _ = Describe("The over-grant observer", Label("race"), func() {
	It("sees two Bound seats when something else writes them", func() {
		ns := newNamespace()
		obs := observeHolders(ns, &v1.SeatAssignmentList{}, seatHolds)
		// A pool managed by another system: seatkeeper leaves its seats alone.
		newPool(ns, "p", int32p(1), nil, func(p *v1.LicensePool) { p.Spec.ManagedBy = "crm.example.com" })
		for _, name := range []string{"a", "b"} {
			newSeat(ns, name, "p", name, v1.AssigneeUser)
			// Until its cache shows the pool, the operator may say the seat waits for it: write
			// over whatever it wrote.
			Eventually(func(g Gomega) {
				s := getSeat(g, ns, name)
				s.Status.Phase, s.Status.Reason, s.Status.Message = v1.SeatBound, v1.SeatReasonGranted, "written by the test"
				g.Expect(k8s.Status().Update(ctx, s)).To(Succeed())
			}).Should(Succeed())
		}
		Eventually(func(g Gomega) {
			g.Expect(getPool(g, ns, "p").Status.Seats.Bound).To(Equal(int32(2)))
		}).Should(Succeed())
		Expect(obs.Stop()).To(Equal(int64(2)))
	})
})
