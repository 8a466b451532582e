"""``ketchd``: configuration, wiring of services, start-up recovery, shutdown."""
