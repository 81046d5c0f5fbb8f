package blocklist

import "testing"

func BenchmarkResetCorpus(b *testing.B) {
	reqs := loadCorpus(b)
	var req Request
	i := 0
	for b.Loop() {
		c := &reqs[i%len(reqs)]
		i++
		req.Reset(c.URL, c.FrameURL, corpusType(c.CPT))
	}
}
func BenchmarkMatchOnlyCorpus(b *testing.B) {
	m := Compile(easyLists(b)...)
	reqs := loadCorpus(b)
	rs := make([]*Request, 0, len(reqs))
	for _, c := range reqs {
		if r, err := NewRequest(c.URL, c.FrameURL, corpusType(c.CPT)); err == nil {
			rs = append(rs, r)
		}
	}
	i := 0
	for b.Loop() {
		m.Match(rs[i%len(rs)])
		i++
	}
}
