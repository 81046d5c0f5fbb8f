package dashboard

import (
	"math"
	"strconv"
	"time"

	"github.com/pixelwall/pixelwall/proxy/blocklog"
)

// chart is the overview's bar chart in SVG user units: every bucket's
// total as a bar, its blocked part overlaid.
type chart struct {
	W, H                     int
	Left, Right, Top, Bottom float64 // the plot area's edges
	Bars                     []bar
	YTicks, XTicks           []tick
	Empty                    bool
	Label                    string // what the chart shows, for screen readers
	Per                      string // the bucket width in words: "per 30 minutes"
}

// bar is one bucket.
type bar struct {
	X, W               float64
	TotalY, TotalH     float64
	BlockedY, BlockedH float64
	Title              string // tooltip
}

// tick is an axis label at Pos (y for the y axis, x for the x axis).
type tick struct {
	Pos   float64
	Label string
}

// Chart geometry.
const (
	chartW      = 960
	chartH      = 260
	chartLeft   = 56
	chartRight  = 12
	chartTop    = 12
	chartBottom = 28
)

// newChart lays out points, buckets of width bucket.
func newChart(points []blocklog.Point, bucket time.Duration, now time.Time) chart {
	c := chart{
		W: chartW, H: chartH,
		Left: chartLeft, Right: chartW - chartRight,
		Top: chartTop, Bottom: chartH - chartBottom,
	}
	var max int64
	for _, p := range points {
		if p.Total > max {
			max = p.Total
		}
		if p.Blocked > max {
			max = p.Blocked
		}
	}
	c.Empty = max == 0
	step := niceStep(max)
	top := step * int64(math.Ceil(float64(max)/float64(step)))
	if top == 0 {
		top = step
	}
	plotH := c.Bottom - c.Top
	y := func(v int64) float64 { return c.Bottom - float64(v)/float64(top)*plotH }
	for v := int64(0); v <= top; v += step {
		c.YTicks = append(c.YTicks, tick{Pos: round1(y(v)), Label: short(v)})
	}
	if len(points) == 0 {
		return c
	}

	slot := (c.Right - c.Left) / float64(len(points))
	for i, p := range points {
		x := c.Left + float64(i)*slot
		b := bar{X: round1(x + slot*0.1), W: round1(slot * 0.8)}
		b.TotalY, b.TotalH = round1(y(p.Total)), round1(c.Bottom-y(p.Total))
		b.BlockedY, b.BlockedH = round1(y(p.Blocked)), round1(c.Bottom-y(p.Blocked))
		end := p.Time.Add(bucket)
		if end.After(now) {
			end = now
		}
		b.Title = p.Time.Local().Format("Mon 15:04") + "–" + end.Local().Format("15:04") + ": " +
			num(p.Total) + " requests, " + num(p.Blocked) + " blocked (" + percent(p.Blocked, p.Total) + ")"
		c.Bars = append(c.Bars, b)

		if label, ok := xTick(p.Time, bucket); ok {
			c.XTicks = append(c.XTicks, tick{Pos: round1(x), Label: label})
		}
	}
	return c
}

// xTick says whether the bucket starting at t gets an x axis label, and
// which: every 10 minutes for buckets of minutes, every 3 hours for
// half-hours, every day for longer ones; a day's first label is its date.
func xTick(t time.Time, bucket time.Duration) (string, bool) {
	t = t.Local()
	switch {
	case bucket <= 5*time.Minute:
		if t.Minute()%10 != 0 {
			return "", false
		}
	case bucket <= time.Hour:
		if t.Minute() != 0 || t.Hour()%3 != 0 {
			return "", false
		}
	default:
		if t.Hour() >= int(bucket/time.Hour) {
			return "", false
		}
		return t.Format("Mon 2"), true
	}
	if t.Hour() == 0 && t.Minute() == 0 {
		return t.Format("Jan 2"), true
	}
	return t.Format("15:04"), true
}

// niceStep is a round step (1, 2 or 5 times a power of ten) that splits
// 0..max in about four.
func niceStep(max int64) int64 {
	if max <= 4 {
		return 1
	}
	rough := float64(max) / 4
	mag := math.Pow(10, math.Floor(math.Log10(rough)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= rough {
			return int64(m * mag)
		}
	}
	return int64(10 * mag)
}

// short formats an axis value: 950, 1.5k, 12k, 3.2M.
func short(v int64) string {
	switch {
	case v >= 1_000_000:
		return trimZero(strconv.FormatFloat(float64(v)/1e6, 'f', 1, 64)) + "M"
	case v >= 1000:
		return trimZero(strconv.FormatFloat(float64(v)/1e3, 'f', 1, 64)) + "k"
	}
	return strconv.FormatInt(v, 10)
}

func trimZero(s string) string {
	if len(s) > 2 && s[len(s)-2:] == ".0" {
		return s[:len(s)-2]
	}
	return s
}

func round1(x float64) float64 { return math.Round(x*10) / 10 }
