/**
 * Reading files a sandbox wrote. The server reads workspaces with more rights than the sandbox
 * (as root, or as the server's user), so every file it opens there is opened without following
 * symlinks and without blocking on a FIFO, then checked to be a regular file whose descriptor
 * really is inside the workspace: a command cannot make the server read `/etc/shadow` for it
 * (`ln -s /etc/shadow "$SWITCHYARD_OUTPUT"`, an artifact that is a link, a parent directory
 * swapped for a link between check and open).
 */
import { constants as fsConstants } from 'node:fs';
import { type FileHandle, open, readlink, realpath, stat, unlink } from 'node:fs/promises';
import path from 'node:path';

/** Flags for every open of a file in a workspace. */
export const workspaceOpenFlags =
  fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK;

export type WorkspaceOpen =
  | { handle: FileHandle; size: number }
  | { refused: 'symlink' | 'not_a_file' | 'outside' | 'io_error'; message: string };

/**
 * Opens `file` for reading when it is a regular file inside `workspace` (a real path). The caller
 * closes the handle.
 */
export async function openInWorkspace(workspace: string, file: string): Promise<WorkspaceOpen> {
  let handle: FileHandle;
  try {
    handle = await open(file, workspaceOpenFlags);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') return { refused: 'symlink', message: 'The file is a symlink.' };
    return { refused: 'io_error', message: `The file cannot be opened (${code ?? 'error'}).` };
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) {
      await handle.close();
      return { refused: 'not_a_file', message: 'Only regular files are read.' };
    }
    if (!(await descriptorInside(handle, file, st, workspace))) {
      await handle.close();
      return {
        refused: 'outside',
        message: 'The file resolves to a place outside the workspace.',
      };
    }
    return { handle, size: st.size };
  } catch (err) {
    await handle.close().catch(() => {});
    return { refused: 'io_error', message: `The file cannot be read (${String(err)}).` };
  }
}

/** Whether `p` lies strictly below the directory `dir`. */
export function isStrictlyInside(p: string, dir: string): boolean {
  return p.startsWith(dir + path.sep);
}

/**
 * Checks, after opening, that the descriptor is inside the workspace: on Linux through
 * /proc/self/fd (what was really opened); elsewhere by resolving the path again and comparing
 * device and inode with the open file.
 */
async function descriptorInside(
  handle: FileHandle,
  source: string,
  st: { dev: number; ino: number },
  workspace: string,
): Promise<boolean> {
  try {
    return isStrictlyInside(await readlink(`/proc/self/fd/${handle.fd}`), workspace);
  } catch {
    // no /proc: fall through
  }
  try {
    const real = await realpath(source);
    const again = await stat(real);
    return isStrictlyInside(real, workspace) && again.dev === st.dev && again.ino === st.ino;
  } catch {
    return false;
  }
}

/**
 * Creates an empty file for the sandbox to write (`mode`, e.g. 0666) at `file` inside
 * `workspace` (a real path), given to `owner` when the sandbox's processes run as another
 * user. Never follows a link at the file itself; when a directory on the
 * way was swapped for a link out of the workspace, the file made there is removed again and
 * this throws.
 */
export async function createInWorkspace(
  workspace: string,
  file: string,
  mode: number,
  owner?: { uid: number; gid: number },
): Promise<void> {
  const handle = await open(
    file,
    fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW,
    mode,
  );
  try {
    const real = await readlink(`/proc/self/fd/${handle.fd}`).catch(() => undefined);
    if (real !== undefined && !isStrictlyInside(real, workspace)) {
      await unlink(real).catch(() => {});
      throw new Error('a directory of the workspace leads outside it');
    }
    await handle.chmod(mode);
    if (owner !== undefined) await handle.chown(owner.uid, owner.gid);
  } finally {
    await handle.close();
  }
}
