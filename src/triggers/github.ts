/**
 * GitHub deliveries as platform events (DESIGN §7). A `github` hook takes GitHub's webhook
 * deliveries as they are sent — JSON or form-encoded (`payload=`) — and maps them:
 *
 * - `push` to a branch → `git.push` with `data.branch`, `data.paths` (every file the commits
 *   added, modified or removed), `data.repository` (`owner/name`), `data.sha`; a tag push →
 *   `git.tag` with `data.tag`; a deleted ref is ignored.
 * - `pull_request` opened/reopened → `pr.opened`, synchronize → `pr.updated`, closed and merged →
 *   `pr.merged`, closed unmerged → `pr.closed`, with `data.branch` the base branch (what
 *   `branches:` filters match, as GitHub Actions' `pull_request` does), `subject: pr/<number>`.
 * - `ping` is answered; anything else is recorded as ignored.
 */

export type GithubOutcome =
  | { kind: 'event'; type: string; subject: string; data: Record<string, unknown> }
  | { kind: 'ping'; zen: string }
  | { kind: 'ignored'; reason: string };

/** The delivery's JSON payload from its body and content type; undefined when it has none. */
export function githubPayload(body: Buffer, contentType: string): unknown {
  const media = contentType.split(';', 1)[0]!.trim().toLowerCase();
  let text = body.toString('utf8');
  if (media === 'application/x-www-form-urlencoded') {
    const payload = new URLSearchParams(text).get('payload');
    if (payload === null) return undefined;
    text = payload;
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v !== null && typeof v === 'object' ? (v as Obj) : {});
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

export function mapGithubDelivery(eventName: string, payload: unknown): GithubOutcome {
  const p = obj(payload);
  const repository = str(obj(p.repository).full_name);
  const sender = str(obj(p.sender).login);
  if (eventName === 'ping') return { kind: 'ping', zen: str(p.zen) ?? 'pong' };
  if (eventName === 'push') {
    const ref = str(p.ref) ?? '';
    if (p.deleted === true) return { kind: 'ignored', reason: `push deleting ${ref}` };
    const paths = new Set<string>();
    for (const c of Array.isArray(p.commits) ? p.commits : []) {
      for (const key of ['added', 'modified', 'removed']) {
        const list = obj(c)[key];
        if (Array.isArray(list)) for (const f of list) if (typeof f === 'string') paths.add(f);
      }
    }
    const common = {
      ...(repository !== undefined && { repository }),
      sha: str(p.after) ?? null,
      before: str(p.before) ?? null,
      paths: [...paths].sort(),
      commits: Array.isArray(p.commits) ? p.commits.length : 0,
      ...(sender !== undefined && { sender }),
      ref,
    };
    if (ref.startsWith('refs/heads/')) {
      const branch = ref.slice('refs/heads/'.length);
      return {
        kind: 'event',
        type: 'git.push',
        subject: `${repository ?? 'repository'}@${branch}`,
        data: { ...common, branch },
      };
    }
    if (ref.startsWith('refs/tags/')) {
      const tag = ref.slice('refs/tags/'.length);
      return {
        kind: 'event',
        type: 'git.tag',
        subject: `${repository ?? 'repository'}@${tag}`,
        data: { ...common, tag },
      };
    }
    return { kind: 'ignored', reason: `push to ${ref || 'an unknown ref'}` };
  }
  if (eventName === 'pull_request') {
    const action = str(p.action) ?? '';
    const pr = obj(p.pull_request);
    const merged = pr.merged === true;
    const type =
      action === 'opened' || action === 'reopened'
        ? 'pr.opened'
        : action === 'synchronize'
          ? 'pr.updated'
          : action === 'closed'
            ? merged
              ? 'pr.merged'
              : 'pr.closed'
            : undefined;
    if (type === undefined) return { kind: 'ignored', reason: `pull_request ${action}` };
    const number = typeof p.number === 'number' ? p.number : pr.number;
    const base = obj(pr.base);
    const head = obj(pr.head);
    return {
      kind: 'event',
      type,
      subject: `pr/${String(number)}`,
      data: {
        ...(repository !== undefined && { repository }),
        number,
        action,
        merged,
        title: str(pr.title) ?? '',
        branch: str(base.ref) ?? null,
        headBranch: str(head.ref) ?? null,
        sha: str(head.sha) ?? null,
        ...(str(pr.merge_commit_sha) !== undefined && { mergeSha: str(pr.merge_commit_sha) }),
        url: str(pr.html_url) ?? null,
        ...(sender !== undefined && { sender }),
      },
    };
  }
  return { kind: 'ignored', reason: `GitHub event ${eventName || '(none)'} is not mapped` };
}
