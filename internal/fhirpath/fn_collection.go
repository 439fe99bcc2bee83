package fhirpath

import (
	"slices"
)

// Existence, filtering and projection, subsetting, combining and
// aggregate functions.
func init() {
	register("empty", 0, 0, func(c *call) (Collection, error) { return boolResult(len(c.input) == 0) })
	register("exists", 0, 1, fnExists)
	register("all", 1, 1, fnAll)
	register("allTrue", 0, 0, func(c *call) (Collection, error) { return boolsAll(c, true, true) })
	register("anyTrue", 0, 0, func(c *call) (Collection, error) { return boolsAll(c, false, true) })
	register("allFalse", 0, 0, func(c *call) (Collection, error) { return boolsAll(c, true, false) })
	register("anyFalse", 0, 0, func(c *call) (Collection, error) { return boolsAll(c, false, false) })
	register("subsetOf", 1, 1, func(c *call) (Collection, error) { return subset(c, false) })
	register("supersetOf", 1, 1, func(c *call) (Collection, error) { return subset(c, true) })
	register("count", 0, 0, func(c *call) (Collection, error) { return c.ev.single(Integer(len(c.input))), nil })
	register("distinct", 0, 0, func(c *call) (Collection, error) { return distinct(c.ev, c.input), nil })
	register("isDistinct", 0, 0, func(c *call) (Collection, error) { return boolResult(len(distinct(c.ev, c.input)) == len(c.input)) })
	register("not", 0, 0, fnNot)

	register("where", 1, 1, fnWhere)
	register("select", 1, 1, fnSelect)
	register("repeat", 1, 1, fnRepeat)

	register("single", 0, 0, fnSingle)
	register("first", 0, 0, func(c *call) (Collection, error) { return sliceOf(c.input, 0, 1), nil })
	register("last", 0, 0, func(c *call) (Collection, error) { return sliceOf(c.input, len(c.input)-1, len(c.input)), nil })
	register("tail", 0, 0, func(c *call) (Collection, error) { return sliceOf(c.input, 1, len(c.input)), nil })
	register("skip", 1, 1, fnSkip)
	register("take", 1, 1, fnTake)
	register("intersect", 1, 1, fnIntersect)
	register("exclude", 1, 1, fnExclude)

	register("union", 1, 1, func(c *call) (Collection, error) {
		other, err := c.arg(0)
		return union(c.ev, c.input, other), err
	})
	register("combine", 1, 1, func(c *call) (Collection, error) {
		other, err := c.arg(0)
		return append(slices.Clip(c.input), other...), err
	})

	register("aggregate", 1, 2, fnAggregate)
	register("sort", 0, 8, fnSort)
}

func fnExists(c *call) (Collection, error) {
	if len(c.node.args) == 0 {
		return boolResult(len(c.input) > 0)
	}
	for i, item := range c.input {
		t, err := c.criterion(0, item, i)
		if err != nil {
			return nil, err
		}
		if t == isTrue {
			return boolResult(true)
		}
	}
	return boolResult(false)
}

func fnAll(c *call) (Collection, error) {
	for i, item := range c.input {
		t, err := c.criterion(0, item, i)
		if err != nil {
			return nil, err
		}
		if t != isTrue {
			return boolResult(false)
		}
	}
	return boolResult(true)
}

// boolsAll implements allTrue, anyTrue, allFalse and anyFalse.
func boolsAll(c *call, all, want bool) (Collection, error) {
	for _, item := range c.input {
		b, ok := primitiveValue(item).(Boolean)
		if !ok {
			return nil, c.errorf("expects booleans, got %s", describe(item))
		}
		if all && bool(b) != want {
			return boolResult(false)
		}
		if !all && bool(b) == want {
			return boolResult(true)
		}
	}
	return boolResult(all)
}

func subset(c *call, super bool) (Collection, error) {
	other, err := c.arg(0)
	if err != nil {
		return nil, err
	}
	small, big := c.input, other
	if super {
		small, big = other, c.input
	}
	for _, v := range small {
		if !containsItem(big, v) {
			return boolResult(false)
		}
	}
	return boolResult(true)
}

func distinct(ev *evaluator, in Collection) Collection {
	out := ev.collection(len(in))
	for _, v := range in {
		if !containsItem(out, v) {
			out = append(out, v)
		}
	}
	return out
}

func fnNot(c *call) (Collection, error) {
	t, err := toBoolean(c.node.at, c.input)
	if err != nil {
		return nil, err
	}
	return fromTristate(negateIf(t, true)), nil
}

func fnWhere(c *call) (Collection, error) {
	var out Collection
	for i, item := range c.input {
		t, err := c.criterion(0, item, i)
		if err != nil {
			return nil, err
		}
		if t == isTrue {
			out = append(out, item)
		}
	}
	return out, nil
}

func fnSelect(c *call) (Collection, error) {
	if len(c.input) == 1 {
		// The projection's result is the whole result. Collections have
		// no spare capacity and no caller writes into one it did not
		// allocate, so it is returned without a copy.
		r, err := c.lambda(0, c.input[0], 0)
		if err != nil {
			return nil, err
		}
		if err := c.ev.checkSize(c.node.at, r); err != nil || len(r) == 0 {
			return nil, err
		}
		return r, nil
	}
	var out Collection
	for i, item := range c.input {
		r, err := c.lambda(0, item, i)
		if err != nil {
			return nil, err
		}
		out = append(out, r...)
		if err := c.ev.checkSize(c.node.at, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// fnRepeat applies the projection to the input, then to its results, until
// no new items appear. Items already found are not projected again, so a
// cycle ends, and MaxSteps bounds the rest.
func fnRepeat(c *call) (Collection, error) {
	var out Collection
	seen := newItemSet()
	queue := c.input
	for len(queue) > 0 {
		var next Collection
		for i, item := range queue {
			r, err := c.lambda(0, item, i)
			if err != nil {
				return nil, err
			}
			for _, v := range r {
				if seen.add(v) {
					out = append(out, v)
					next = append(next, v)
				}
			}
			if err := c.ev.checkSize(c.node.at, out); err != nil {
				return nil, err
			}
		}
		queue = next
	}
	return out, nil
}

func fnSingle(c *call) (Collection, error) {
	if len(c.input) > 1 {
		return nil, c.errorf("expects at most one item, got %d", len(c.input))
	}
	return c.input, nil
}

func sliceOf(in Collection, from, to int) Collection {
	from, to = max(from, 0), min(to, len(in))
	if from >= to {
		return nil
	}
	return in[from:to:to]
}

func fnSkip(c *call) (Collection, error) {
	n, ok, err := c.intArg(0)
	if err != nil || !ok {
		return nil, err
	}
	return sliceOf(c.input, n, len(c.input)), nil
}

func fnTake(c *call) (Collection, error) {
	n, ok, err := c.intArg(0)
	if err != nil || !ok {
		return nil, err
	}
	return sliceOf(c.input, 0, n), nil
}

func fnIntersect(c *call) (Collection, error) {
	other, err := c.arg(0)
	if err != nil {
		return nil, err
	}
	var out Collection
	for _, v := range c.input {
		if containsItem(other, v) && !containsItem(out, v) {
			out = append(out, v)
		}
	}
	return out, nil
}

func fnExclude(c *call) (Collection, error) {
	other, err := c.arg(0)
	if err != nil {
		return nil, err
	}
	var out Collection
	for _, v := range c.input {
		if !containsItem(other, v) {
			out = append(out, v)
		}
	}
	return out, nil
}

// fnAggregate evaluates the aggregator for each item with $total set to the
// result so far, starting from the init argument (or empty).
func fnAggregate(c *call) (Collection, error) {
	var total Collection
	if len(c.node.args) > 1 {
		var err error
		if total, err = c.arg(1); err != nil {
			return nil, err
		}
	}
	for i, item := range c.input {
		this := c.ev.single(item)
		sc := c.ev.pushScope()
		*sc = scope{this: this, index: i, hasIndex: true, total: total, hasTotal: true}
		r, err := c.node.args[0].eval(c.ev, sc, this)
		c.ev.popScope(sc)
		if err != nil {
			return nil, err
		}
		total = r
	}
	return total, nil
}

// fnSort orders the input by the sort keys given as arguments, or by the
// items themselves. A key written with unary minus sorts descending.
// Items whose keys cannot be compared keep their relative order.
func fnSort(c *call) (Collection, error) {
	type keyed struct {
		item Value
		keys []Collection
	}
	items := make([]keyed, len(c.input))
	desc := make([]bool, len(c.node.args))
	keyNodes := make([]node, len(c.node.args))
	for j, a := range c.node.args {
		keyNodes[j] = a
		if neg, ok := a.(*negateNode); ok {
			desc[j], keyNodes[j] = true, neg.operand
		}
	}
	keys := make([]Collection, len(c.input)*len(keyNodes))
	for i, item := range c.input {
		items[i].item = item
		items[i].keys = keys[i*len(keyNodes) : (i+1)*len(keyNodes)]
		this := c.ev.single(item)
		sc := c.ev.pushScope()
		*sc = scope{this: this, index: i, hasIndex: true}
		for j, k := range keyNodes {
			r, err := k.eval(c.ev, sc, this)
			if err != nil {
				c.ev.popScope(sc)
				return nil, err
			}
			items[i].keys[j] = r
		}
		c.ev.popScope(sc)
	}
	var sortErr error
	slices.SortStableFunc(items, func(a, b keyed) int {
		if len(keyNodes) == 0 {
			return c.sortCompare(Collection{a.item}, Collection{b.item}, false, &sortErr)
		}
		for j := range keyNodes {
			if r := c.sortCompare(a.keys[j], b.keys[j], desc[j], &sortErr); r != 0 {
				return r
			}
		}
		return 0
	})
	if sortErr != nil {
		return nil, sortErr
	}
	out := c.ev.collection(len(items))
	for _, k := range items {
		out = append(out, k.item)
	}
	return out, nil
}

func (c *call) sortCompare(a, b Collection, desc bool, errp *error) int {
	switch {
	case len(a) == 0 && len(b) == 0:
		return 0
	case len(a) == 0:
		return -1
	case len(b) == 0:
		return 1
	}
	r, _, err := compareItems(c.node.at, a[0], b[0])
	if err != nil && *errp == nil {
		*errp = err
	}
	if desc {
		return -r
	}
	return r
}

// itemSet tracks the items repeat() has found: nodes by identity, other
// values by equality. Nodes are kept in a list until there are more than
// itemSetListMax of them, which covers most repeat() calls without
// building a map.
type itemSet struct {
	list   []*Node
	nodes  map[*Node]bool
	others Collection // compared with '=', so 3 'min' and 180 seconds are one item
}

const itemSetListMax = 32

func newItemSet() *itemSet {
	return &itemSet{}
}

// add reports whether v was new.
func (s *itemSet) add(v Value) bool {
	if n, ok := v.(*Node); ok {
		return s.addNode(n)
	}
	if containsItem(s.others, v) {
		return false
	}
	s.others = append(s.others, v)
	return true
}

func (s *itemSet) addNode(n *Node) bool {
	if s.nodes != nil {
		if s.nodes[n] {
			return false
		}
		s.nodes[n] = true
		return true
	}
	for _, seen := range s.list {
		if seen == n {
			return false
		}
	}
	if len(s.list) < itemSetListMax {
		s.list = append(s.list, n)
		return true
	}
	s.nodes = make(map[*Node]bool, 2*itemSetListMax)
	for _, seen := range s.list {
		s.nodes[seen] = true
	}
	s.nodes[n] = true
	s.list = nil
	return true
}
