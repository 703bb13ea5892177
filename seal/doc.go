// Package seal keeps the hub's electronic seals (电子印章) and applies and
// verifies them.
//
// A seal belongs to an organisation (a department with a 统一社会信用代码),
// has a kind (公章, 合同专用章, ...), a picture in the blob store, a validity
// window, a status history (active, suspended, revoked, each change with
// its time and reason) and one or more key pairs. Each key is certified
// by the hub's own seal CA (an Ed25519 root made on first use), so a
// verifier needs only that root. Private keys, the CA's included, are
// stored only encrypted under the master key (AES-256-GCM, bound to their
// row); decrypted seal keys live in memory while their seal is cached.
// Rotating a seal's key retires the old key: it signs no more, stays in
// the JWKS, and what it signed stays verifiable.
//
// Applying a seal (Service.Sign) yields a JWS in JSON serialization whose
// payload describes the document and whose protected header says which
// seal signed, when and why (the profile is described in jws.go). A
// second seal adds its own entry to the signatures array. Verification
// (Service.Verify online; Verifier and VerifyOffline with the published
// JWKS or just the CA certificate) checks each signature against an
// explicit EdDSA/ES256 allow list, the certificate chain to the hub CA,
// the key, the seal's status and certificate validity at the signing
// time, and the document digest, and says for each signature why it is
// not valid.
//
// Every application is a usage record (用印记录), buffered and written in
// batches; Service.Usage lists them per seal.
//
// Tables (migration 0003): seal_ca, seals, seal_status_events, seal_keys,
// seal_usage.
package seal
