// Runs in the GitHub Actions job, started by the workflow as
//   node --import @tessera/sdk/register call-api.mjs
// Records this build in the releases API with a plain fetch. There is no token or key here or in
// the job: the SDK asks the runner for an OIDC token (audience: TESSERA_CLOUD_URL), Tessera checks
// it and puts a short-lived credential on the request. Fails the job when the call fails.
// Env: RELEASES_API_URL, and what the runner sets (GITHUB_REPOSITORY, GITHUB_REF, GITHUB_SHA, GITHUB_RUN_ID).
const url = new URL('/v1/releases', process.env.RELEASES_API_URL);
const release = {
  repository: process.env.GITHUB_REPOSITORY,
  ref: process.env.GITHUB_REF,
  sha: process.env.GITHUB_SHA,
  runId: process.env.GITHUB_RUN_ID,
};

try {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(release) });
  const text = await response.text();
  console.log(`${response.status} ${text}`);
  if (!response.ok) {
    console.log(`::error title=Releases API::HTTP ${response.status}`);
    process.exitCode = 1;
  }
} catch (error) {
  // Tessera refused the request before sending it; fetch's TypeError carries the reason as cause
  // (a TesseraUnavailableError's own cause says what could not be reached).
  const chain = [];
  for (let reason = error.cause; reason !== undefined && chain.length < 3; reason = reason.cause) {
    chain.push(`${reason.name} ${reason.code ?? ''}: ${reason.message}`);
  }
  console.log(`::error title=Tessera::${chain.join(' <- ') || error.message}`);
  process.exitCode = 1;
}
