package members

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/corpustest"
	"github.com/gatehouse-health/gatehouse/internal/storage"
	"github.com/gatehouse-health/gatehouse/internal/storage/storagetest"
)

func openStore(t *testing.T, b storagetest.Backend) *Store {
	t.Helper()
	s := NewStore(b.New(t))
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestLoadSyntheaArchive(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		s := openStore(t, b)
		archive := corpustest.File(t, "synthea/synthea-r4-bundles-200.tgz")
		var calls int
		sum, err := s.LoadPath(context.Background(), archive, LoadOptions{Progress: func(Progress) { calls++ }})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("summary: %d members, %d coverages, skipped %v", sum.Members, sum.Coverages, sum.Skipped)
		if sum.Files != 200 || calls != 200 {
			t.Errorf("files %d, progress calls %d; expected 200 each", sum.Files, calls)
		}
		if sum.Resources["Patient"] != 199 || sum.Resources["ExplanationOfBenefit"] != 3215 {
			t.Errorf("resources read %v", sum.Resources)
		}
		if got := sum.Members + skippedTotal(sum); got != sum.Files {
			t.Errorf("members %d + skipped %v = %d, expected the %d files read", sum.Members, sum.Skipped, got, sum.Files)
		}
		if sum.Skipped[SkipProvidersOnly] != 1 {
			t.Errorf("skipped %v, expected the hospital file under %q", sum.Skipped, SkipProvidersOnly)
		}
		if got := sum.Members + sum.Skipped[SkipNoCoverage]; got != 199 {
			t.Errorf("members %d + skipped without coverage %d = %d, expected 199 patients", sum.Members, sum.Skipped[SkipNoCoverage], got)
		}
		if sum.Members < 190 {
			t.Errorf("only %d members loaded; skipped %v", sum.Members, sum.Skipped)
		}
		n, err := s.Count(context.Background())
		if err != nil || n != sum.Members {
			t.Errorf("store contains %d members (%v), summary reports %d", n, err, sum.Members)
		}

		again, err := s.LoadPath(context.Background(), archive, LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if again.Members != 0 || again.Skipped[SkipAlreadyLoaded] != sum.Members {
			t.Errorf("second load: %d members, %d already loaded; expected 0 and %d", again.Members, again.Skipped[SkipAlreadyLoaded], sum.Members)
		}
	})
}

func TestLoadSingleFileNotBundle(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		path := filepath.Join(t.TempDir(), "patient.json")
		if err := os.WriteFile(path, []byte(`{"resourceType":"Patient","id":"x"}`), 0o600); err != nil {
			t.Fatal(err)
		}
		sum, err := openStore(t, b).LoadPath(context.Background(), path, LoadOptions{})
		if !errors.Is(err, ErrNotBundle) || !strings.Contains(err.Error(), path) {
			t.Errorf("err = %v, want ErrNotBundle naming %s", err, path)
		}
		if sum.Files != 1 || sum.Skipped[SkipNotBundle] != 1 {
			t.Errorf("summary %+v, expected one file skipped as not a Bundle", sum)
		}
	})
}

// TestLoadSingleFileInvalidJSON loads Bundles that are not well-formed
// JSON. A file cut short by a copy must be reported as such, not as "not a
// FHIR Bundle", whose hint sends the operator looking for the wrong fault.
func TestLoadSingleFileInvalidJSON(t *testing.T) {
	const bundle = `{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Patient","identifier":[{"system":"s","value":"1"}],"name":[{"family":"Doe"}],"birthDate":"1970-01-01"}}]}`
	cases := map[string]string{
		"cut short":            bundle[:len(bundle)/2],
		"cut before the brace": bundle[:len(bundle)-1],
		"second object":        bundle + `{}`,
		"stray bytes":          bundle + `x`,
		"empty":                ``,
	}
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		s := openStore(t, b)
		for name, body := range cases {
			t.Run(name, func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "bundle.json")
				if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
					t.Fatal(err)
				}
				sum, err := s.LoadPath(context.Background(), path, LoadOptions{})
				if !errors.Is(err, ErrInvalidJSON) || !strings.Contains(err.Error(), path) {
					t.Errorf("err = %v, want ErrInvalidJSON naming %s", err, path)
				}
				if sum.Skipped[SkipInvalidJSON] != 1 || sum.Members != 0 {
					t.Errorf("summary %+v, expected one file skipped as invalid JSON", sum)
				}
			})
		}
	})
}

func TestLoadDirectoryWithoutBundles(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "readme.txt"), []byte("no bundles"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := openStore(t, b).LoadPath(context.Background(), dir, LoadOptions{})
		if !errors.Is(err, ErrNoFiles) || !strings.Contains(err.Error(), dir) {
			t.Errorf("err = %v, want ErrNoFiles naming %s", err, dir)
		}
	})
}

// TestSyntheaCoverageHistory checks one known patient: Synthea's id
// ece76cc5-... has private-plan claims up to 2021 and is alive, so the
// last coverage is open-ended.
func TestSyntheaCoverageHistory(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		dir := corpustest.Unpack(t, "synthea/synthea-r4-bundles-200.tgz")
		file := filepath.Join(dir, "synthea-r4-bundles", "Lemuel_Hodkiewicz_ece76cc5-d728-4ddd-a85d-a47de7d1649a.json")
		s := openStore(t, b)
		sum, err := s.LoadPath(context.Background(), file, LoadOptions{})
		if err != nil || sum.Members != 1 {
			t.Fatalf("load: %v, summary %+v", err, sum)
		}
		id := MemberID("https://github.com/synthetichealth/synthea", "ece76cc5-d728-4ddd-a85d-a47de7d1649a")
		m, err := s.Member(context.Background(), id)
		if err != nil || m == nil {
			t.Fatalf("member %s: %v", id, err)
		}
		if m.Family != "Hodkiewicz" || m.BirthDate == "" || m.Gender != "male" {
			t.Errorf("member %+v", m)
		}
		covs, err := s.Coverages(context.Background(), id)
		if err != nil || len(covs) == 0 {
			t.Fatalf("coverages %v: %v", covs, err)
		}
		if covs[0].End != "" || !covs[0].InForce("2026-03-01") {
			t.Errorf("latest coverage %+v, expected open-ended and in force", covs[0])
		}
	})
}

func TestCoverageFromSegments(t *testing.T) {
	segs := []segment{
		{plan: "medicaid", start: "2010-01-05", end: "2010-01-05"},
		{plan: "private", start: "2012-03-01", end: "2012-03-01"},
		{plan: "medicaid", start: "2011-06-01", end: "2011-06-01"},
		{plan: "no_insurance", start: "2015-02-01", end: "2015-02-01"},
	}
	covs := coverageFromSegments(segs, "")
	want := []Coverage{
		{Plan: "medicaid", Start: "2010-01-05", End: "2012-02-29"},
		{Plan: "private", Start: "2012-03-01", End: "2015-01-31"},
	}
	if len(covs) != len(want) {
		t.Fatalf("coverages %+v, expected %+v", covs, want)
	}
	for i := range want {
		if covs[i].Plan != want[i].Plan || covs[i].Start != want[i].Start || covs[i].End != want[i].End {
			t.Errorf("coverage %d: %+v, expected %+v", i, covs[i], want[i])
		}
	}

	deceased := coverageFromSegments([]segment{{plan: "medicare", start: "2001-01-01"}}, "2019-07-04")
	if len(deceased) != 1 || deceased[0].End != "2019-07-04" {
		t.Errorf("deceased member's coverage %+v, expected it to end on the date of death", deceased)
	}
}

func TestLoadSkipsUnusableFiles(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		dir := t.TempDir()
		files := map[string]string{
			"a-not-json.json": "not json",
			"b-patient.json":  `{"resourceType":"Patient","id":"x"}`,
			"c-no-ident.json": `{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Patient","name":[{"family":"Doe"}],"birthDate":"1970-01-01"}}]}`,
			"d-no-cover.json": `{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Patient","identifier":[{"system":"s","value":"1"}],"name":[{"family":"Doe"}],"birthDate":"1970-01-01"}}]}`,
			"e-two-pats.json": `{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Patient"}},{"resource":{"resourceType":"Patient"}}]}`,
			"f-coverage.json": `{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Patient","identifier":[{"system":"s","value":"2"}],"name":[{"family":"Roe","given":["Ann"]}],"gender":"female","birthDate":"1980-02-03"}},{"resource":{"resourceType":"Coverage","status":"active","type":{"text":"PPO"},"period":{"start":"2020-01-01","end":"2020-12-31"},"payor":[{"display":"Plan A"}]}}]}`,
			"ignored.txt":     "not loaded",
		}
		for name, body := range files {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		s := openStore(t, b)
		sum, err := s.LoadPath(context.Background(), dir, LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		checks := []struct {
			reason string
			want   int
		}{
			{SkipNotBundle, 1},
			{SkipInvalidJSON, 1},
			{SkipNoIdentifier, 1},
			{SkipNoCoverage, 1},
			{SkipManyPatients, 1},
		}
		for _, c := range checks {
			if got := sum.Skipped[c.reason]; got != c.want {
				t.Errorf("skipped %q: %d, expected %d", c.reason, got, c.want)
			}
		}
		if sum.Files != 6 || sum.Members != 1 || sum.Coverages != 1 {
			t.Errorf("summary %+v, expected 6 files, 1 member with 1 coverage", sum)
		}
		if got := sum.Members + skippedTotal(sum); got != sum.Files {
			t.Errorf("members %d + skipped %v = %d, expected the %d files read", sum.Members, sum.Skipped, got, sum.Files)
		}
		covs, _ := s.Coverages(context.Background(), MemberID("s", "2"))
		if len(covs) != 1 || covs[0].InForce("2021-01-01") || !covs[0].InForce("2020-06-30") {
			t.Errorf("coverage %+v, expected in force during 2020 only", covs)
		}
	})
}

func TestMatch(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		s := openStore(t, b)
		ctx := context.Background()
		add := func(m Member) {
			t.Helper()
			if err := s.Add(ctx, m, nil); err != nil {
				t.Fatal(err)
			}
		}
		add(Member{ID: "M1", Family: "Person", Given: "Patricia", BirthDate: "1974-12-25", Gender: "female"})
		add(Member{ID: "M2", Family: "Twin", Given: "Alex", BirthDate: "1990-05-01", Gender: "male"})
		add(Member{ID: "M3", Family: "TWIN", Given: "alex", BirthDate: "1990-05-01", Gender: "male"})

		cases := []struct {
			name   string
			q      MatchQuery
			want   MatchOutcome
			wantID string
		}{
			{"demographics", MatchQuery{Family: "Person", Given: "Patricia", BirthDate: "1974-12-25", Gender: "female"}, MatchUnique, "M1"},
			{"member id and demographics", MatchQuery{MemberIDs: []string{"M2"}, Family: "Twin", BirthDate: "1990-05-01"}, MatchUnique, "M2"},
			{"member id with another birth date", MatchQuery{MemberIDs: []string{"M1"}, Family: "Person", BirthDate: "1974-12-26"}, MatchNone, ""},
			{"ambiguous demographics", MatchQuery{Family: "Twin", Given: "Alex", BirthDate: "1990-05-01", Gender: "male"}, MatchAmbiguous, ""},
			{"two member ids both agreeing", MatchQuery{MemberIDs: []string{"M2", "M3"}, Family: "twin", BirthDate: "1990-05-01"}, MatchAmbiguous, ""},
			{"unknown id falls back to demographics", MatchQuery{MemberIDs: []string{"M9"}, Family: "Person", Given: "Patricia", BirthDate: "1974-12-25", Gender: "female"}, MatchUnique, "M1"},
			// Matched as the unknown id above, so that the result does
			// not reveal whether M2 is some member's id.
			{"another member's id falls back to demographics", MatchQuery{MemberIDs: []string{"M2"}, Family: "Person", Given: "Patricia", BirthDate: "1974-12-25", Gender: "female"}, MatchUnique, "M1"},
			{"no gender without member id", MatchQuery{Family: "Person", Given: "Patricia", BirthDate: "1974-12-25"}, MatchNone, ""},
			{"nobody", MatchQuery{Family: "Nobody", Given: "Some", BirthDate: "2000-01-01", Gender: "other"}, MatchNone, ""},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				id, got, err := s.Match(ctx, c.q)
				if err != nil {
					t.Fatal(err)
				}
				if got != c.want || id != c.wantID {
					t.Errorf("Match = %q, %v; expected %q, %v", id, got, c.wantID, c.want)
				}
			})
		}
	})
}

func TestKey(t *testing.T) {
	for in, want := range map[string]string{"O'Brien": "obrien", "Lemuel304": "lemuel", " Ann-Marie ": "annmarie", "Zoë": "zoë"} {
		if got := Key(in); got != want {
			t.Errorf("Key(%q) = %q, expected %q", in, got, want)
		}
	}
	if !strings.HasPrefix(MemberID("s", "v"), "M") || len(MemberID("s", "v")) != 11 {
		t.Errorf("MemberID = %q, expected M and 10 hex digits", MemberID("s", "v"))
	}
}

// TestAddConcurrentLoadPostgres adds a member while another load has
// inserted the same member and not yet committed, as two 'gatehouse payer
// load' runs against one PostgreSQL database do. The second Add must report
// ErrExists, which a load counts as already loaded, rather than fail.
func TestAddConcurrentLoadPostgres(t *testing.T) {
	ctx := context.Background()
	url := storagetest.Backend{Dialect: storage.PostgreSQL}.NewURL(t)
	first := storagetest.Open(t, url)
	s := NewStore(first)
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	second := NewStore(storagetest.Open(t, url))
	m := Member{ID: MemberID("urn:test", "P1"), SourceSystem: "urn:test", SourceValue: "P1",
		Family: "Doe", Given: "Jane", BirthDate: "1970-01-01", Gender: "female"}

	tx, err := first.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, sqlInsertMember, m.ID, m.SourceSystem, m.SourceValue, m.Family, m.Given,
		Key(m.Family), Key(m.Given), m.BirthDate, m.Gender, m.DeceasedDate); err != nil {
		t.Fatal(err)
	}

	added := make(chan error, 1)
	go func() { added <- second.Add(ctx, m, nil) }()
	// The second insert waits on the first one's row lock; commit only
	// then, so that its existence check has already run.
	for {
		var waiting int
		err := first.QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_stat_activity
			WHERE wait_event_type = 'Lock' AND query LIKE '%INSERT INTO payer_members%'`).Scan(&waiting)
		if err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			break
		}
		select {
		case err := <-added:
			t.Fatalf("Add returned %v before the first load committed, expected it to wait", err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-added; !errors.Is(err, ErrExists) {
		t.Errorf("Add = %v, expected ErrExists", err)
	}
}
