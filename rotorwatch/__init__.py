"""rotorwatch: predictive maintenance for rotating machines (domain core)."""
