"""What a hub process runs on: the one settings object, configuration files, logs, the clock,
Kafka client options, the embedded broker and topic administration."""
