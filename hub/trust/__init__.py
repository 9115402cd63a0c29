"""Who is who: Ed25519 signing and verification of records, agencies' private keys on disk,
Kafka ACLs derived from the directory and their application to a cluster."""
