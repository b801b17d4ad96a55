"""What only a lesson needs: flaky servers and resilience demos."""
