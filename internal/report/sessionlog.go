package report

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

// SessionRow is one SharedSession in the session log. JSON keys and CSV header come from the
// json tags.
type SessionRow struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Pool      string `json:"pool"`
	Holder    string `json:"holder"`
	Peer      string `json:"peer"`
	State     string `json:"state"`
	Phase     string `json:"phase"`
	// Start is status.grantedAt and End status.endedAt; null (CSV: empty) when not (yet) so.
	Start *time.Time `json:"start"`
	End   *time.Time `json:"end"`
	// DurationSeconds and Duration (h:mm:ss) are end - start, or now - start while Active; null
	// (CSV: empty) for a session never granted.
	DurationSeconds *int64  `json:"durationSeconds"`
	Duration        *string `json:"duration"`
	Reason          string  `json:"reason"`
	// QueuePosition is the 1-based place in the queue while Waiting, else null (CSV: empty).
	QueuePosition *int32 `json:"queuePosition"`
	Message       string `json:"message"`
	// Licences is spec.count, how many shared licences the session takes (1 unless set). It is
	// the last column so that scripts reading the CSV by position still find the others.
	Licences int32 `json:"licences"`
	// The licence policies, after licences for the same reason. Priority is spec.priority, the
	// order of the queue and, where the pool preempts, who may take a licence from whom.
	Priority int32 `json:"priority"`
	// Notice is why an Active session under notice ends at EndsAt unless a licence frees first:
	// CapacityReduced (the pool's capacity dropped) or Preempted (PreemptedBy, a waiting session
	// of higher priority, takes its licences). Empty, and EndsAt null, without a notice.
	Notice      string     `json:"notice"`
	EndsAt      *time.Time `json:"endsAt"`
	PreemptedBy string     `json:"preemptedBy"`
	// Overdraft is true while the session holds licences beyond its pool's limit (its condition
	// Overdraft).
	Overdraft bool `json:"overdraft"`
}

// SessionRowOf makes the log entry of a session at time now. Times are cut to whole seconds
// first, so that in every output end - start = duration exactly.
func SessionRowOf(s *v1alpha1.SharedSession, now time.Time) SessionRow {
	state := s.Spec.State
	if state == "" {
		state = v1alpha1.SessionIdle // the API's default
	}
	r := SessionRow{
		Namespace: s.Namespace,
		Name:      s.Name,
		Pool:      s.Spec.PoolName,
		Holder:    s.Spec.Holder,
		Peer:      s.Spec.Peer,
		State:     string(state),
		Phase:     string(s.Status.Phase),
		Start:     MicroTimeOf(s.Status.GrantedAt),
		End:       MicroTimeOf(s.Status.EndedAt),
		Reason:    string(s.Status.EndReason),
		Message:   s.Status.Message,
		Licences:  LicencesOf(s),
		Priority:  s.Spec.Priority,
		Overdraft: s.Status.Phase == v1alpha1.SessionActive && meta.IsStatusConditionTrue(s.Status.Conditions, v1alpha1.ConditionOverdraft),
	}
	if s.Status.Phase == v1alpha1.SessionActive && s.Status.EndsAt != nil {
		r.Notice, r.EndsAt, r.PreemptedBy = noticeOf(s), MicroTimeOf(s.Status.EndsAt), s.Status.PreemptedBy
	}
	if r.Start != nil {
		var until *time.Time
		switch {
		case r.End != nil:
			until = r.End
		case s.Status.Phase != v1alpha1.SessionEnded:
			n := now.UTC().Truncate(time.Second)
			until = &n
		}
		if until != nil {
			d := max(until.Sub(*r.Start), 0)
			secs, text := int64(d/time.Second), ClockDuration(d)
			r.DurationSeconds, r.Duration = &secs, &text
		}
	}
	if s.Status.Phase == v1alpha1.SessionWaiting && s.Status.QueuePosition > 0 {
		p := s.Status.QueuePosition
		r.QueuePosition = &p
	}
	return r
}

// noticeOf is the kind of notice a session with endsAt is under. The API tells the two apart
// by preemptedBy, which names the session that takes the licence, as the agent library and the
// portal do (the EndingSoon condition's reason says the same).
func noticeOf(s *v1alpha1.SharedSession) string {
	if s.Status.PreemptedBy != "" {
		return string(v1alpha1.EndPreempted)
	}
	return string(v1alpha1.EndCapacityReduced)
}

// LicencesOf is how many shared licences a session takes: spec.count, or 1 (the API's default)
// when a client that does not know the field left it out.
func LicencesOf(s *v1alpha1.SharedSession) int32 {
	return max(s.Spec.Count, 1)
}

// MicroTimeOf is t in UTC cut to whole seconds, or nil.
func MicroTimeOf(t *metav1.MicroTime) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC().Truncate(time.Second)
	return &u
}

// TimeOf is t in UTC cut to whole seconds, or nil.
func TimeOf(t *metav1.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC().Truncate(time.Second)
	return &u
}

// ClockDuration formats d as h:mm:ss (hours not wrapped at 24), which spreadsheets read as a
// duration.
func ClockDuration(d time.Duration) string {
	s := int64(d / time.Second)
	return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
}
