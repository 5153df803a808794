package integration

import (
	"context"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	v1 "github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

var _ = Describe("smoke", func() {
	It("accepts a pool with defaults", func() {
		ns := newNamespace()
		p := &v1.LicensePool{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: ns}, Spec: v1.LicensePoolSpec{Product: "remote-support", Seats: ptr.To[int32](3)}}
		Expect(k8s.Create(context.Background(), p)).To(Succeed())
		GinkgoWriter.Printf("%+v\n", p.Spec.SessionPolicy)
		Expect(p.Spec.SessionPolicy.HeartbeatTimeout.Duration.String()).To(Equal("1m0s"))
		bad := p.DeepCopy()
		bad.Spec.SessionPolicy.HeartbeatTimeout = &metav1.Duration{Duration: 2e9}
		err := k8s.Update(context.Background(), bad)
		Expect(err).To(HaveOccurred())
		GinkgoWriter.Println(err.Error())
		bad = p.DeepCopy(); bad.Spec.Product = "x"
		err = k8s.Update(context.Background(), bad)
		GinkgoWriter.Println(err)
		o := &v1.CustomerOrder{ObjectMeta: metav1.ObjectMeta{Name: "o"}, Spec: v1.CustomerOrderSpec{Items: []v1.OrderItem{{Product: "a"}, {Product: "b", PoolName: "a"}}}}
		err = k8s.Create(context.Background(), o)
		GinkgoWriter.Println(err)
		o.Spec.Items[1].PoolName = ""
		Expect(k8s.Create(context.Background(), o)).To(Succeed())
		o.Spec.Customer = "x"
		Expect(k8s.Update(context.Background(), o)).To(Succeed())
		o.Spec.Customer = "y"
		GinkgoWriter.Println(k8s.Update(context.Background(), o))
	})
})
