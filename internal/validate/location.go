package validate

import "strconv"

// location is the position of a value in the instance, as a FHIRPath-style
// expression ("Patient.name[0].given[1]"). Most values get no issue, so
// the walk records each value's step from its parent and renders the
// text only when an issue or a check needs it. A location keeps its text
// once rendered, and its children's texts start from it.
type location struct {
	parent *location
	name   string // element name, "" for a root
	ofType string // type of a choice element, as its member name ends ("Quantity")
	index  int    // item index of a repeating element, or -1
	text   string // the rendered path; set from the start for a root
}

// rootLocation starts a chain at a resource or at a value whose path the
// caller has already rendered. It is taken from the run's chunks, because
// each resource and each profile it is checked against needs one, and
// it stays valid until the run is released.
func (r *run) rootLocation(path string) *location {
	l := r.locations.One()
	l.text, l.index = path, -1
	return l
}

// String renders the path.
func (l *location) String() string {
	if l.text == "" && l.parent != nil {
		l.text = stepPath(l.parent.String(), l.name, l.ofType, l.index)
	}
	return l.text
}

// child returns the location of the member name of the value at l.
func (l *location) child(name string) string { return l.String() + "." + name }

// stepPath appends one step to a parent's path: the element name, the type
// of a choice (".ofType(Quantity)") and the index of a repeating element,
// in one concatenation.
func stepPath(parent, name, ofType string, index int) string {
	switch {
	case ofType == "" && index < 0:
		return parent + "." + name
	case ofType == "":
		return parent + "." + name + "[" + strconv.Itoa(index) + "]"
	case index < 0:
		return parent + "." + name + ".ofType(" + ofType + ")"
	}
	return parent + "." + name + ".ofType(" + ofType + ")[" + strconv.Itoa(index) + "]"
}
