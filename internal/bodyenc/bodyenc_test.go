package bodyenc

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"testing"
)

// A body is read as its Content-Encoding says: as it came, or gunzipped;
// gzip that is not, or another encoding, is refused saying which.
func TestReader(t *testing.T) {
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	zw.Write([]byte(`{"a":1}`))
	zw.Close()
	for _, c := range []struct {
		name, encoding string
		body           []byte
		gz             bool
		err            error
	}{
		{"none", "", []byte(`{"a":1}`), false, nil},
		{"identity", "identity", []byte(`{"a":1}`), false, nil},
		{"gzip", "gzip", zipped.Bytes(), true, nil},
		{"x-gzip, another case, spaces", " X-GZIP ", zipped.Bytes(), true, nil},
		{"gzip that is not", "gzip", []byte(`{"a":1}`), false, &NotGzipError{}},
		{"br", "br", []byte("…"), false, &UnsupportedError{Encoding: "br"}},
	} {
		r, _ := http.NewRequest("POST", "/", bytes.NewReader(c.body))
		if c.encoding != "" {
			r.Header.Set("Content-Encoding", c.encoding)
		}
		src, gz, err := Reader(r)
		switch want := c.err.(type) {
		case nil:
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if got, _ := io.ReadAll(src); string(got) != `{"a":1}` || (gz != nil) != c.gz {
				t.Errorf("%s: read %q, gzip %v", c.name, got, gz != nil)
			}
		case *NotGzipError:
			if !errors.As(err, &want) {
				t.Errorf("%s: %v, want NotGzipError", c.name, err)
			}
		case *UnsupportedError:
			var got *UnsupportedError
			if !errors.As(err, &got) || got.Encoding != want.Encoding {
				t.Errorf("%s: %v, want %v", c.name, err, want)
			}
		}
	}
}
