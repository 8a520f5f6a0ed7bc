"""Physics-based device fleet, MQTT publisher and provisioning (an adapter over rotorwatch)."""
