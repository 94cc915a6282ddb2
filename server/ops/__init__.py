"""Operating the service: metrics, event-loop lag and the supervisor of long-lived tasks."""
