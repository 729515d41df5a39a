package presenced_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/presenced/presenced/directory"
)

// Every metric the Grafana dashboard queries exists on a running server
// (one with TLS, for the certificate's expiry): renaming a metric breaks
// this test, not an operator's dashboard.
func TestDashboardQueriesExistingMetrics(t *testing.T) {
	raw, err := os.ReadFile("deploy/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	e, ca := startTLS(t)
	c := tlsClient(ca, true)
	// A token issued, one refused, a request: the labelled series exist
	// once they happened.
	daemonToken(t, c, e.srv.URL())
	bad, err := c.PostForm(e.srv.URL()+"/"+directory.DemoTenantID+"/oauth2/v2.0/token", url.Values{"grant_type": {"client_credentials"}})
	if err != nil {
		t.Fatal(err)
	}
	bad.Body.Close()
	resp, err := c.Get(e.srv.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %s", resp.Status)
	}
	exposed := string(body)
	metric := regexp.MustCompile(`\b((?:presenced|go|process)_[a-z_]+?)(?:_bucket|_count|_sum)?\b[{(\[ ]`)
	queries := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			queries++
			for _, m := range metric.FindAllStringSubmatch(tg.Expr, -1) {
				if !strings.Contains(exposed, "\n# TYPE "+m[1]+" ") {
					t.Errorf("panel %q queries %s, which the server does not expose", p.Title, m[1])
				}
			}
		}
	}
	if queries < 20 {
		t.Fatalf("%d queries in the dashboard", queries)
	}
}
