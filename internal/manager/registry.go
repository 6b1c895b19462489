package manager

import (
	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// ctrlmetricsRegistry is controller-runtime's registry, which its metrics
// server serves.
func ctrlmetricsRegistry() prometheus.Registerer { return ctrlmetrics.Registry }
