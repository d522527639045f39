// What this server can do beyond what the page always needs, read from its
// OpenAPI document: a feature appears in the page when its routes appear
// there. This is the seam for media (multipart sends), statuses and calls.

const SEND = '/api/chats/{chat}/messages';

export async function loadCapabilities() {
  const none = { mediaSend: false, statuses: false, calls: false };
  try {
    const response = await fetch('/api/openapi.json', { headers: { Accept: 'application/json' } });
    if (!response.ok) return none;
    return capabilitiesOf(await response.json());
  } catch {
    return none;
  }
}

export function capabilitiesOf(doc) {
  const paths = doc?.paths || {};
  const content = paths[SEND]?.post?.requestBody?.content || {};
  return {
    mediaSend: 'multipart/form-data' in content,
    statuses: '/api/status' in paths,
    calls: '/api/calls' in paths,
  };
}
