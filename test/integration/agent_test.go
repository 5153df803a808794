package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/seatkeeper/seatkeeper/api/v1alpha1"
	"github.com/seatkeeper/seatkeeper/internal/sidecar"
	"github.com/seatkeeper/seatkeeper/pkg/agent"
)

func watchClient() client.WithWatch {
	GinkgoHelper()
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	return c
}

// positionLog collects the queue positions a lease reports, in order.
type positionLog struct {
	mu  sync.Mutex
	pos []int32
}

func (p *positionLog) add(s agent.Status) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s.Phase == v1.SessionWaiting && (len(p.pos) == 0 || p.pos[len(p.pos)-1] != s.QueuePosition) {
		p.pos = append(p.pos, s.QueuePosition)
	}
}

func (p *positionLog) get() []int32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]int32(nil), p.pos...)
}

var _ = Describe("Agent library", Label("agent"), func() {
	It("waits in the queue with position updates, holds past the heartbeat timeout, and hands over on release", func(sctx SpecContext) {
		ns := newNamespace()
		newPool(ns, "p", nil, int32p(1), func(p *v1.LicensePool) { p.Spec.SessionPolicy.HeartbeatTimeout = dur(5 * time.Second) })
		c := watchClient()
		first, err := agent.Acquire(sctx, c, agent.Request{Namespace: ns, Pool: "p", Holder: "alice"}, agent.Options{})
		Expect(err).NotTo(HaveOccurred())
		Expect(first.Wait(sctx)).To(Succeed())

		var secondLog, thirdLog positionLog
		second, err := agent.Acquire(sctx, c, agent.Request{Namespace: ns, Pool: "p", Holder: "bob"}, agent.Options{OnChange: secondLog.add})
		Expect(err).NotTo(HaveOccurred())
		third, err := agent.Acquire(sctx, c, agent.Request{Namespace: ns, Pool: "p", Holder: "carol"}, agent.Options{OnChange: thirdLog.add})
		Expect(err).NotTo(HaveOccurred())
		Eventually(secondLog.get).Should(Equal([]int32{1}))
		Eventually(thirdLog.get).Should(Equal([]int32{2}))

		By("heartbeating, all three outlive the 5s timeout")
		Consistently(func(g Gomega) {
			g.Expect(first.Granted()).To(BeTrue())
			g.Expect(second.Status().Phase).To(Equal(v1.SessionWaiting))
			g.Expect(third.Status().Phase).To(Equal(v1.SessionWaiting))
		}, 7*time.Second, 500*time.Millisecond).Should(Succeed())

		By("releasing the first, the second is granted and the third moves up")
		Expect(first.Release(sctx, agent.Delete)).To(Succeed())
		Expect(second.Wait(sctx)).To(Succeed())
		Eventually(thirdLog.get).Should(Equal([]int32{2, 1}))

		By("an operator-side end is reported with its reason")
		patchSpec(getSession(Default, ns, second.Name()), `{"spec":{"terminate":true}}`)
		Eventually(second.Done()).Should(BeClosed())
		var ended *agent.EndedError
		Expect(errors.As(second.Err(), &ended)).To(BeTrue())
		Expect(ended.Reason).To(Equal(v1.EndTerminated))
		By("releasing a session that has already ended is no error: its record is final, nothing is left to give back")
		Expect(second.Release(sctx, agent.Terminate)).To(Succeed())
		Expect(third.Wait(sctx)).To(Succeed())

		By("state and peer reach the session")
		Expect(third.SetState(sctx, v1.SessionConnected, "ticket-1")).To(Succeed())
		Eventually(func(g Gomega) {
			s := getSession(g, ns, third.Name())
			g.Expect(s.Spec.State).To(Equal(v1.SessionConnected))
			g.Expect(s.Spec.Peer).To(Equal("ticket-1"))
		}).Should(Succeed())
		Expect(third.Release(sctx, agent.Terminate)).To(Succeed())
		waitEnded(ns, third.Name(), v1.EndTerminated)
	}, SpecTimeout(90*time.Second))
})

var _ = Describe("Agent sidecar", Label("agent"), func() {
	type exit struct {
		code   int
		stderr string
	}
	start := func(ctx context.Context, ns, holder string) (string, <-chan exit) {
		ready := make(chan string, 1)
		done := make(chan exit, 1)
		env := map[string]string{"SEATKEEPER_POOL": "p", "POD_NAME": holder, "POD_NAMESPACE": ns, "SEATKEEPER_LISTEN": "127.0.0.1:0"}
		go func() {
			defer GinkgoRecover()
			var out, errOut bytes.Buffer
			code := sidecar.Run(ctx, nil, func(k string) string { return env[k] }, cfg, &out, &errOut, ready)
			done <- exit{code, errOut.String()}
		}()
		var addr string
		Eventually(ready).Should(Receive(&addr))
		return "http://" + addr, done
	}
	get := func(url string) (int, string) {
		resp, err := http.Get(url)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return resp.StatusCode, b.String()
	}

	It("is ready only while it holds the licence, reports status, sets state, and releases on SIGTERM", func() {
		ns := newNamespace()
		newPool(ns, "p", nil, int32p(1))
		ctxA, sigtermA := context.WithCancel(context.Background())
		defer sigtermA()
		a, doneA := start(ctxA, ns, "pod-a")
		Eventually(func() int { code, _ := get(a + "/readyz"); return code }).Should(Equal(http.StatusOK))

		ctxB, sigtermB := context.WithCancel(context.Background())
		defer sigtermB()
		b, doneB := start(ctxB, ns, "pod-b")
		Eventually(func(g Gomega) {
			code, body := get(b + "/readyz")
			g.Expect(code).To(Equal(http.StatusServiceUnavailable))
			g.Expect(body).To(ContainSubstring("waiting at position 1 of 1"))
			_, st := get(b + "/status")
			var s agent.Status
			g.Expect(json.Unmarshal([]byte(st), &s)).To(Succeed())
			g.Expect(s.Phase).To(Equal(v1.SessionWaiting))
			g.Expect(s.QueuePosition).To(Equal(int32(1)))
		}).Should(Succeed())

		resp, err := http.Post(a+"/state", "application/json", strings.NewReader(`{"state":"Connected","peer":"customer-7"}`))
		Expect(err).NotTo(HaveOccurred())
		Expect(resp.StatusCode).To(Equal(http.StatusNoContent))
		resp.Body.Close()
		Eventually(func(g Gomega) {
			var l v1.SharedSessionList
			g.Expect(k8s.List(ctx, &l, client.InNamespace(ns), client.MatchingFields{"spec.holder": "pod-a"})).To(Succeed())
			g.Expect(l.Items).To(HaveLen(1))
			g.Expect(l.Items[0].Spec.Peer).To(Equal("customer-7"))
		}).Should(Succeed())

		By("SIGTERM releases the licence to the waiting sidecar, and keeps the session as the record")
		sigtermA()
		Eventually(doneA, 15*time.Second).Should(Receive(Equal(exit{code: 0})))
		Eventually(func() int { code, _ := get(b + "/readyz"); return code }).Should(Equal(http.StatusOK))
		Eventually(func(g Gomega) {
			var l v1.SharedSessionList
			g.Expect(k8s.List(ctx, &l, client.InNamespace(ns), client.MatchingFields{"spec.holder": "pod-a"})).To(Succeed())
			g.Expect(l.Items).To(HaveLen(1), "terminate, the default, keeps the usage record")
			g.Expect(l.Items[0].Status.Phase).To(Equal(v1.SessionEnded))
			g.Expect(l.Items[0].Status.EndReason).To(Equal(v1.EndTerminated))
			g.Expect(l.Items[0].Spec.Peer).To(Equal("customer-7"))
		}).Should(Succeed())

		By("an operator-side end makes the sidecar exit 1 with the reason")
		var l v1.SharedSessionList
		Expect(k8s.List(ctx, &l, client.InNamespace(ns), client.MatchingFields{"spec.holder": "pod-b"})).To(Succeed())
		patchSpec(&l.Items[0], `{"spec":{"terminate":true}}`)
		var e exit
		Eventually(doneB, 15*time.Second).Should(Receive(&e))
		Expect(e.code).To(Equal(1))
		Expect(e.stderr).To(ContainSubstring(fmt.Sprintf("the operator ended session %s: Terminated", l.Items[0].Name)))
	})
})
