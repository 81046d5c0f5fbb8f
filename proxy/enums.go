package proxy

import (
	"fmt"
	"slices"
	"strings"
)

// oneOf is the UnmarshalText of a string enum: b must be one of names.
func oneOf[T ~string](b []byte, names ...T) (T, error) {
	if v := T(b); slices.Contains(names, v) {
		return v, nil
	}
	s := make([]string, len(names))
	for i, n := range names {
		s[i] = string(n)
	}
	return "", fmt.Errorf("%q: want %s or %s", b, strings.Join(s[:len(s)-1], ", "), s[len(s)-1])
}

// UnmarshalText accepts all, listed and none.
func (i *Intercept) UnmarshalText(b []byte) (err error) {
	*i, err = oneOf(b, InterceptAll, InterceptListed, InterceptNone)
	return err
}

// UnmarshalText accepts strip-cross-site, origin and keep.
func (r *RefererPolicy) UnmarshalText(b []byte) (err error) {
	*r, err = oneOf(b, RefererStripCrossSite, RefererOrigin, RefererKeep)
	return err
}

// checkEnums rejects values no UnmarshalText accepts; zero values are the
// defaults.
func (o *Options) checkEnums() error {
	if o.Intercept != "" {
		if err := new(Intercept).UnmarshalText([]byte(o.Intercept)); err != nil {
			return fmt.Errorf("proxy: Options.Intercept %w", err)
		}
	}
	if o.Referer != "" {
		if err := new(RefererPolicy).UnmarshalText([]byte(o.Referer)); err != nil {
			return fmt.Errorf("proxy: Options.Referer %w", err)
		}
	}
	return nil
}
