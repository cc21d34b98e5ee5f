package store_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
)

// BenchmarkQueryDevices is one page of the dashboard's device list over
// 2,000 partnerships (20 users × 100): filtered, sorted, counted.
func BenchmarkQueryDevices(b *testing.B) {
	storetest.ForEachBench(b, func(b *testing.B, s *store.Store) {
		ctx := b.Context()
		for u := range 20 {
			usr, err := s.CreateUser(ctx, store.NewUser{Address: fmt.Sprintf("bench%d@example.org", u), Password: "pw"})
			require.NoError(b, err)
			for d := range 100 {
				dev, err := s.TouchDevice(ctx, store.DeviceContact{User: usr.ID, DeviceID: fmt.Sprintf("D%d", d), DeviceType: "iPhone"})
				require.NoError(b, err)
				require.NoError(b, s.SetDeviceInfo(ctx, dev.ID, store.DeviceInfo{Model: fmt.Sprintf("Model%d", d%15), OS: "iOS 17"}))
			}
		}
		for _, bc := range []struct {
			name string
			q    store.DeviceQuery
		}{
			{"first page", store.DeviceQuery{Limit: 50}},
			{"filtered sorted", store.DeviceQuery{Model: "Model3", Compliance: store.NonCompliant, Sort: "-last_seen", Limit: 50, Offset: 50}},
			{"search", store.DeviceQuery{Search: "bench1", Limit: 50}},
			{"oldest first", store.DeviceQuery{Sort: "first_seen", Limit: 50, Offset: 500}},
		} {
			b.Run(bc.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, _, err := s.QueryDevices(ctx, bc.q); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
		b.Run("stats", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.DeviceStats(ctx, 10); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}
