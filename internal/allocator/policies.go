package allocator

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// rules are a pool's policies for shared licences, resolved once per decision: which group a
// holder belongs to, the reservations as honoured, and the room they leave.
//
// The limit (with the overdraft) is split in two: each group's reservation, which only its
// members use, and the common licences, which anyone uses. A member uses its group's
// reservation first, then the common licences. Caps (a group's maxSessions, the pool's
// maxPerHolder) bound what a group or a holder uses, wherever the licences come from.
type rules struct {
	groups   []Group
	member   map[string]int // holder → index in groups, or -1; filled as holders are met
	reserved []int          // each group's reservation, as honoured
	// limit is the licences that may be in use: the limit plus the overdraft; -1 when unlimited.
	limit     int
	perHolder int // 0: no cap
	fit       bool
}

func newRules(p Pool) *rules {
	r := &rules{groups: p.Groups, member: map[string]int{}, reserved: make([]int, len(p.Groups)),
		limit: -1, perHolder: p.Policy.MaxPerHolder, fit: true}
	if p.SessionLimit == nil {
		return r
	}
	r.limit = int(*p.SessionLimit) + p.Policy.Overdraft
	left := int(*p.SessionLimit)
	for g, grp := range p.Groups {
		r.reserved[g] = min(grp.Reserved, left)
		left -= r.reserved[g]
		if r.reserved[g] < grp.Reserved {
			r.fit = false
		}
	}
	return r
}

// totalReserved is the licences the groups reserve, as honoured.
func (r *rules) totalReserved() int {
	n := 0
	for _, v := range r.reserved {
		n += v
	}
	return n
}

// common is the number of licences anyone may use: the limit and overdraft, less the
// reservations; -1 when unlimited.
func (r *rules) common() int {
	if r.limit < 0 {
		return -1
	}
	return r.limit - r.totalReserved()
}

// groupOf is the index of the first group with a member that matches the holder, or -1.
func (r *rules) groupOf(holder string) int {
	if len(r.groups) == 0 {
		return -1
	}
	if g, ok := r.member[holder]; ok {
		return g
	}
	g := -1
	for k, grp := range r.groups {
		if matchesAny(grp.Members, holder) {
			g = k
			break
		}
	}
	r.member[holder] = g
	return g
}

func (r *rules) groupName(g int) string { return r.groups[g].Name }

// matchesAny reports whether a name matches one of the patterns: an exact name, or one in
// which * stands for any run of characters. Names that look like e-mail addresses (they hold
// an @) compare without regard to case, as elsewhere.
func matchesAny(patterns []string, name string) bool {
	for _, p := range patterns {
		if strings.Contains(p, "@") || strings.Contains(name, "@") {
			p, name = strings.ToLower(p), strings.ToLower(name)
		}
		if matchPattern(p, name) {
			return true
		}
	}
	return false
}

// matchPattern matches name against a pattern in which * stands for any run of characters.
func matchPattern(pattern, name string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == name
	}
	if !strings.HasPrefix(name, parts[0]) {
		return false
	}
	name = name[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, mid := range parts[1 : len(parts)-1] {
		k := strings.Index(name, mid)
		if k < 0 {
			return false
		}
		name = name[k+len(mid):]
	}
	return strings.HasSuffix(name, last)
}

// units counts licences in use: each session's count, or, with countBy Holder, for each holder
// the largest count among its sessions. Licences under notice count, but cover no further
// session of their holder. It also counts what each holder and each group uses, for the caps
// and the reservations.
type units struct {
	rules    *rules
	byHolder bool
	n        int            // licences in use
	holders  map[string]int // with byHolder, the licences each holder's sessions cover
	noticed  map[string]int // with byHolder, the licences under notice of each holder
	use      map[string]int // with a cap per holder, the licences each holder uses, noticed or not
	group    []int          // licences each group's members use
}

func newUnits(r *rules, byHolder bool) *units {
	return &units{rules: r, byHolder: byHolder, holders: map[string]int{}, use: map[string]int{}, group: make([]int, len(r.groups))}
}

// add counts a session of the holder that takes n licences.
func (u *units) add(holder string, n int) {
	delta := n
	if u.byHolder {
		delta = max(0, n-u.holders[holder])
		u.holders[holder] = max(u.holders[holder], n)
	}
	u.count(holder, delta)
}

// addNoticed counts licences under notice.
func (u *units) addNoticed(holder string, n int) {
	delta := n
	if u.byHolder {
		if u.noticed == nil {
			u.noticed = map[string]int{}
		}
		delta = max(0, n-u.noticed[holder])
		u.noticed[holder] = max(u.noticed[holder], n)
	}
	u.count(holder, delta)
}

// remove takes back a unit of n licences the holder was counted for with add (with byHolder,
// all its sessions' licences).
func (u *units) remove(holder string, n int) {
	if u.byHolder {
		n = u.holders[holder]
		delete(u.holders, holder)
	}
	u.count(holder, -n)
}

// removeNoticed takes back licences under notice, counted with addNoticed.
func (u *units) removeNoticed(holder string, n int) {
	if u.byHolder {
		n = u.noticed[holder]
		delete(u.noticed, holder)
	}
	u.count(holder, -n)
}

// removeUnit takes back a licence unit: the given sessions, counted with add.
func (u *units) removeUnit(sessions []Session, unit []int) {
	for _, i := range unit {
		if !u.byHolder {
			u.remove(sessions[i].Holder, sessions[i].licences())
		}
	}
	if u.byHolder {
		u.remove(sessions[unit[0]].Holder, 0)
	}
}

// clone is a copy to try a change on.
func (u *units) clone() *units {
	c := *u
	c.holders, c.use, c.group = maps.Clone(u.holders), maps.Clone(u.use), slices.Clone(u.group)
	c.noticed = maps.Clone(u.noticed)
	return &c
}

func (u *units) count(holder string, delta int) {
	u.n += delta
	if u.rules.perHolder > 0 {
		u.use[holder] += delta // only the cap per holder reads it
	}
	if len(u.group) > 0 {
		if g := u.rules.groupOf(holder); g >= 0 {
			u.group[g] += delta
		}
	}
}

// extra is how many more licences a session of the holder that takes n needs.
func (u *units) extra(holder string, n int) int {
	if u.byHolder {
		return max(0, n-u.holders[holder])
	}
	return n
}

func (u *units) total() int { return u.n }

// commonUsed is the common licences in use: everyone's, less what the groups' reservations cover.
func (u *units) commonUsed() int {
	n := u.n
	for g, used := range u.group {
		n -= min(used, u.rules.reserved[g])
	}
	return n
}

// split is how a grant of delta licences to the holder divides between its group's reservation
// and the common licences.
func (u *units) split(holder string, delta int) (reserved, common int) {
	g := u.rules.groupOf(holder)
	if g < 0 {
		return 0, delta
	}
	reserved = min(delta, max(0, u.rules.reserved[g]-u.group[g]))
	return reserved, delta - reserved
}

// block is why a session cannot take its licences now.
type block int

const (
	fits       block = iota
	full             // not enough free licences that it may use
	groupCap         // its group's maxSessions
	holderCap        // the pool's maxPerHolder
	neverFits        // it asks for more than it may ever hold: the limit, a cap, or what it may use
	reservedUp       // the free licences are reserved for groups it is not in
)

// check says whether a session of the holder can take delta more licences (n in all) now.
func (u *units) check(holder string, n, delta int) block {
	r := u.rules
	g := r.groupOf(holder)
	switch {
	case r.perHolder > 0 && n > r.perHolder:
		return neverFits
	case g >= 0 && r.groups[g].MaxSessions != nil && n > int(*r.groups[g].MaxSessions):
		return neverFits
	case r.limit >= 0 && n > r.mayUse(g):
		return neverFits
	case r.perHolder > 0 && u.use[holder]+delta > r.perHolder:
		return holderCap
	case g >= 0 && r.groups[g].MaxSessions != nil && u.group[g]+delta > int(*r.groups[g].MaxSessions):
		return groupCap
	case r.limit < 0:
		return fits
	}
	_, common := u.split(holder, delta)
	if u.commonUsed()+common <= r.common() {
		return fits
	}
	if u.total()+delta <= r.limit {
		return reservedUp
	}
	return full
}

// neverHolds reports whether a session of the holder that takes n licences may never hold
// them, whatever frees: n is beyond the cap per holder, its group's cap, or what it may use
// (check says neverFits).
func (r *rules) neverHolds(holder string, n int) bool {
	g := r.groupOf(holder)
	return (r.perHolder > 0 && n > r.perHolder) ||
		(g >= 0 && r.groups[g].MaxSessions != nil && n > int(*r.groups[g].MaxSessions)) ||
		(r.limit >= 0 && n > r.mayUse(g))
}

// mayUse is the most licences a member of group g (-1: of none) may ever use.
func (r *rules) mayUse(g int) int {
	if g < 0 {
		return r.common()
	}
	return r.common() + r.reserved[g]
}

// room is how many more licences a session of the holder could take now, by every rule (a large
// number when nothing bounds it).
func (u *units) room(holder string) int {
	r := u.rules
	g := r.groupOf(holder)
	room := 1 << 30
	if r.perHolder > 0 {
		room = min(room, r.perHolder-u.use[holder])
	}
	if g >= 0 && r.groups[g].MaxSessions != nil {
		room = min(room, int(*r.groups[g].MaxSessions)-u.group[g])
	}
	if r.limit >= 0 {
		free := r.common() - u.commonUsed()
		if g >= 0 {
			free += max(0, r.reserved[g]-u.group[g])
		}
		room = min(room, free)
	}
	return max(0, room)
}

// capMessage names the cap that keeps a session of the holder waiting.
func (u *units) capMessage(b block, holder string, pool string) string {
	r := u.rules
	if b == holderCap {
		return fmt.Sprintf("%s may use at most %s of pool %s at once (maxPerHolder) and uses %d",
			holder, licences(r.perHolder), pool, u.use[holder])
	}
	g := r.groupOf(holder)
	return fmt.Sprintf("group %s may use at most %s of pool %s (maxSessions) and uses %d",
		r.groupName(g), licences(int(*r.groups[g].MaxSessions)), pool, u.group[g])
}
