// Package feed reads and validates Ordergroove's product feed (F1-F7): streamed, so that a
// 100,000-product file is never held whole in memory, with the line and rule id of every
// finding. The SFTP drop site, `PUT /_sandbox/merchants/{id}/products` and
// `ogsandbox feed check` share it, so a feed gets the same report wherever it arrives.
package feed

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/ogsandbox/ogsandbox/emulator/og"
)

// Report is the outcome of reading one feed (og.FeedReport).
type Report = og.FeedReport

// MaxFindings bounds the findings of one report.
const MaxFindings = og.MaxFindings

// value is one field of a product as the feed carried it.
type value struct {
	text   string
	line   int
	cdata  bool // the text was (entirely) inside CDATA
	entity bool // the text outside CDATA held an entity reference such as &amp;
	empty  bool // the element was present but empty or self-closing
}

// rawProduct is a product entry before validation: every field as text, with its line.
type rawProduct struct {
	line          int
	index         int
	fields        map[string]value
	groups        []rawGroup
	categories    []value
	extra         map[string]value
	relationships []rawRelationship
	unknown       []value // unknown elements (text holds the name)
	// wrongType names JSON fields whose value has the wrong shape (text: the field; the
	// expected shape follows a tab), refused rather than dropped.
	wrongType []value
}

type rawGroup struct {
	typ string
	value
}

type rawRelationship struct {
	name    value
	related []value
}

// Field limits of F2.
const (
	maxName     = 1024
	maxID       = 64
	maxURL      = 400
	maxCategory = 64
	maxEvery    = 10 // digits
)

var priceFormat = regexp.MustCompile(`^[0-9]+\.[0-9]{2}$`)

// knownFields are the product elements of F2 (and product_type of the public reference).
var knownFields = map[string]bool{
	"name": true, "product_id": true, "sku": true, "price": true, "details_url": true, "image_url": true,
	"autoship_eligible": true, "in_stock": true, "discontinued": true, "every": true, "every_period": true,
	"product_type": true, "groups": true, "categories": true, "extra_data": true, "relationships": true,
}

// validate checks one entry (F2-F7, C1) and returns the product and whether it may be
// ingested. Findings carry the line of the field at fault.
func validate(raw *rawProduct, rep *Report, now time.Time, source string) (og.Product, bool) {
	ok := true
	id := raw.fields["product_id"].text
	label := id
	if label == "" {
		label = fmt.Sprintf("#%d", raw.index+1)
	}
	path := func(field string) string { return "products[" + label + "]." + field }
	fail := func(v value, rule, field, msg string) {
		ok = false
		line := v.line
		if line == 0 {
			line = raw.line
		}
		rep.Add(og.Diagnostic{Rule: rule, Field: path(field), Message: msg, Severity: og.SeverityError, Line: line})
	}
	warn := func(v value, rule, field, msg string) {
		line := v.line
		if line == 0 {
			line = raw.line
		}
		rep.Add(og.Diagnostic{Rule: rule, Field: path(field), Message: msg, Severity: og.SeverityWarning, Line: line})
	}
	text := func(v value, field string, max int, required bool) string {
		switch {
		case v.empty && required:
			fail(v, "F2", field, field+" is empty; it is required")
		case v.empty:
			warn(v, "F2", field, "optional field "+field+" is present but empty: leave optional fields out rather than sending empty or self-closing tags")
		case v.line == 0 && v.text == "" && required:
			fail(v, "F2", field, field+" is missing; it is required")
		case len(v.text) > max:
			fail(v, "F2", field, fmt.Sprintf("%s is %d characters; at most %d", field, len(v.text), max))
		}
		checkText(v, field, fail, warn)
		return v.text
	}
	flag := func(field string, required bool) bool {
		v, present := raw.fields[field]
		if !present || v.empty {
			if required {
				fail(v, "F2", field, field+" is missing; it is required: 1 or 0")
			} else if v.empty {
				warn(v, "F2", field, "optional field "+field+" is present but empty: leave it out, or send 1 or 0")
			}
			return false
		}
		switch strings.TrimSpace(v.text) {
		case "1":
			return true
		case "0":
			return false
		case `"1"`, `"0"`, `'1'`, `'0'`:
			fail(v, "F2", field, fmt.Sprintf("%s is %s: it must be 1 or 0, not wrapped in quotation marks", field, v.text))
		default:
			fail(v, "F2", field, fmt.Sprintf("%s is %q: it must be exactly 1 or 0", field, v.text))
		}
		return false
	}

	p := og.Product{Source: source, UpdatedAt: now}
	p.ProductID = text(raw.fields["product_id"], "product_id", maxID, true)
	p.SKU = text(raw.fields["sku"], "sku", maxID, true)
	name := raw.fields["name"]
	p.Name = text(name, "name", maxName, true)
	if name.text != "" && !name.cdata {
		warn(name, "F7", "name", "product names should always be wrapped in CDATA (<name><![CDATA[...]]></name>)")
	}
	if v, present := raw.fields["price"]; !present || v.empty {
		fail(v, "F2", "price", "price is missing; it is required: a decimal with two digits after the point, e.g. 19.99")
	} else {
		s := strings.TrimSpace(v.text)
		switch {
		case strings.ContainsAny(s, `"'`):
			fail(v, "F2", "price", fmt.Sprintf("price %s must not be wrapped in quotation marks", v.text))
		case strings.HasPrefix(s, "$"):
			fail(v, "F2", "price", fmt.Sprintf("price %s must be a bare decimal, without a currency sign", v.text))
		case strings.HasPrefix(s, "-") && priceFormat.MatchString(s[1:]):
			fail(v, "F2", "price", fmt.Sprintf("price %s is negative: a price is 0.00 or more", s))
		case !priceFormat.MatchString(s):
			fail(v, "F2", "price", fmt.Sprintf("price %q must be a decimal with exactly two digits after the point (e.g. 19.90)", v.text))
		default:
			m, err := og.ParseMoney(s)
			if err != nil || m > og.MaxPrice {
				fail(v, "F2", "price", fmt.Sprintf("price %s is over 99999999.99", s))
			} else {
				p.Price = m
			}
		}
	}
	for _, u := range []struct {
		field string
		https bool
	}{{"details_url", false}, {"image_url", true}} {
		v, present := raw.fields[u.field]
		if !present {
			continue
		}
		s := text(v, u.field, maxURL, false)
		if s == "" {
			continue
		}
		pu, err := url.Parse(s)
		switch {
		case err != nil || pu.Host == "" || (pu.Scheme != "http" && pu.Scheme != "https"):
			fail(v, "F2", u.field, fmt.Sprintf("%s %q is not a fully qualified URL", u.field, s))
		case u.https && pu.Scheme != "https":
			fail(v, "F2", u.field, fmt.Sprintf("image_url %q must be HTTPS", s))
		}
		if u.https {
			p.ImageURL = s
		} else {
			p.DetailsURL = s
		}
	}
	eligible, hasEligible := raw.fields["autoship_eligible"]
	p.AutoshipEligible = flag("autoship_eligible", false)
	if !hasEligible || eligible.empty {
		// Optional (REFERENCE §5): absent means eligible, and an empty tag (warned about)
		// means what leaving it out means, not 0.
		p.AutoshipEligible = true
	}
	p.InStock = flag("in_stock", true)
	p.Discontinued = flag("discontinued", false)
	if p.Discontinued && (p.AutoshipEligible || p.InStock) {
		fail(raw.fields["discontinued"], "F3", "discontinued",
			fmt.Sprintf("a discontinued product must also have autoship_eligible 0 and in_stock 0 (it has %s and %s)", flagAsSent(raw, "autoship_eligible", p.AutoshipEligible), flagAsSent(raw, "in_stock", p.InStock)))
	}
	every, hasEvery := raw.fields["every"]
	period, hasPeriod := raw.fields["every_period"]
	switch {
	case hasEvery && hasPeriod:
		e, err1 := strconv.Atoi(strings.TrimSpace(every.text))
		pd, err2 := strconv.Atoi(strings.TrimSpace(period.text))
		badEvery := err1 != nil || e < 1 || len(strings.TrimSpace(every.text)) > maxEvery
		badPeriod := err2 != nil || pd < og.PeriodDay || pd > og.PeriodYear
		if badEvery { // each is reported: fixing one should not reveal the other
			fail(every, "F2", "every", fmt.Sprintf("every %q must be a positive whole number of at most 10 digits", every.text))
		}
		if badPeriod {
			fail(period, "F2", "every_period", fmt.Sprintf("every_period %q must be 1 (days), 2 (weeks), 3 (months) or 4 (years)", period.text))
		}
		switch {
		case badEvery || badPeriod:
		default:
			f := og.Frequency{Every: e, EveryPeriod: pd} // F6
			if err := f.Check(); err != nil {
				// A checkout taking this default would be refused for it (P3).
				fail(every, "F6", "every", fmt.Sprintf("the default frequency %s: %v; a checkout would refuse it (P3)", f, err))
				break
			}
			p.Frequency = &f
		}
	case hasEvery:
		fail(every, "F6", "every_period", "every is set without every_period: a default frequency needs both")
	case hasPeriod:
		fail(period, "F6", "every", "every_period is set without every: a default frequency needs both")
	}
	for _, g := range raw.groups {
		s := text(g.value, "groups.group", maxID, true)
		if g.typ != "" && g.typ != "sku_swap" && g.typ != "incentive" {
			warn(g.value, "F2", "groups.group", fmt.Sprintf("group type %q is neither sku_swap nor incentive", g.typ))
		}
		p.Groups = append(p.Groups, og.ProductGroup{Type: g.typ, Name: s})
	}
	for _, c := range raw.categories {
		s := text(c, "categories.category", maxCategory, true)
		if s != "" && !c.cdata {
			warn(c, "F7", "categories.category", "category names should always be wrapped in CDATA")
		}
		p.Categories = append(p.Categories, s)
	}
	for key, v := range raw.extra {
		s := text(v, "extra_data.field["+key+"]", maxID, true)
		if len(key) > maxID {
			fail(v, "F2", "extra_data.field", fmt.Sprintf("extra_data key %q is over 64 characters", key))
		}
		if p.ExtraData == nil {
			p.ExtraData = map[string]string{}
		}
		p.ExtraData[key] = s
	}
	for _, r := range raw.relationships {
		name := text(r.name, "relationships.relationship.name", maxID, true)
		if name != "" && name != og.RelReplacement && name != og.RelSilentReplacement {
			warn(r.name, "F3", "relationships.relationship.name", fmt.Sprintf("relationship %q is neither %s nor %s: it replaces nothing", name, og.RelReplacement, og.RelSilentReplacement))
		}
		rel := og.Relationship{Name: name}
		for _, rp := range r.related {
			rel.Related = append(rel.Related, text(rp, "relationships.relationship.related.product_id", maxID, true))
		}
		if len(rel.Related) == 0 {
			fail(r.name, "F3", "relationships.relationship.related", "a relationship names no related/product_id")
		}
		p.Relationships = append(p.Relationships, rel)
	}
	for _, u := range raw.unknown {
		warn(u, "F2", u.text, fmt.Sprintf("unknown element <%s> is ignored", u.text))
	}
	for _, w := range raw.wrongType {
		field, want, _ := strings.Cut(w.text, "\t")
		fail(w, "F2", field, fmt.Sprintf("%s should be %s", field, want))
	}
	return p, ok
}

// checkText applies C1 and F7 to a text value.
func checkText(v value, field string, fail, warn func(value, string, string, string)) {
	if i := og.NonASCII(v.text); i >= 0 {
		fail(v, "C1", field, fmt.Sprintf("%s has a non-ASCII character at byte %d: feeds are ASCII only (C1)", field, i))
		return
	}
	if v.entity && !v.cdata {
		warn(v, "F7", field, field+" holds a special character as an XML entity outside CDATA; special characters (&, symbols) must be inside CDATA")
	}
}

// flagAsSent says what a product's flag is, noting when the feed left it out (its default).
func flagAsSent(raw *rawProduct, field string, v bool) string {
	if f, present := raw.fields[field]; present && !f.empty {
		return strconv.Itoa(b2i(v))
	}
	return fmt.Sprintf("%d, by leaving it out", b2i(v)) // "it has 1, by leaving it out and 0"
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
