import { AUDIT_PAGE_MAX, decodeCursor, describeAuditEvent } from '../audit/trail.js';
import { parseDuration } from '../config.js';
import { AUDIT_EVENT_TYPES, type AuditEventType } from '../stores/types.js';
import { type Command, UsageError } from './commands.js';
import { value } from './options.js';

/** `--since 1h` (that long ago) or an RFC 3339 date-time. */
function readTime(value: string | undefined, flag: string, now: number): Date | undefined {
  if (value === undefined) return undefined;
  const ago = parseDuration(value);
  if (ago !== undefined) return new Date(now - ago * 1000);
  const at = /^\d{4}-\d\d-\d\d(T[\d:.]+(Z|[+-]\d\d:\d\d))?$/i.test(value) ? new Date(value) : undefined;
  if (!at || Number.isNaN(at.getTime()))
    throw new UsageError(`${flag} takes a duration (1h, 7d) or a date-time`);
  return at;
}

/** `tessera audit list` (docs/audit.md): the same trail as GET /admin/audit, newest first. */
export const auditCommands: Record<string, Command> = {
  'audit list': {
    summary: 'audit events, newest first (T: a duration such as 24h, or an RFC 3339 date-time)',
    options: [
      value('type', 'T', 'one event type (user.created, login.failed, ...)'),
      value('username', 'U', 'events about this user'),
      value('client-id', 'C', 'events about or by this client'),
      value('since', 'T', 'from this time (24h: that long ago)'),
      value('until', 'T', 'up to this time'),
      value('limit', 'N', `events per page, 1 to ${AUDIT_PAGE_MAX}`, { default: '50' }),
      value('cursor', 'C', 'the next_cursor of the previous page'),
    ],
    async run({ values: parsed, services }) {
      // Every flag of this command takes one value.
      const values = parsed as Record<string, string | undefined>;
      if (values.type !== undefined && !AUDIT_EVENT_TYPES.includes(values.type as AuditEventType)) {
        throw new UsageError(`unknown --type (use one of ${AUDIT_EVENT_TYPES.join(', ')})`);
      }
      let limit: number | undefined;
      if (values.limit !== undefined) {
        limit = Number(values.limit);
        if (!/^\d+$/.test(values.limit) || limit < 1 || limit > AUDIT_PAGE_MAX)
          throw new UsageError(`--limit takes 1 to ${AUDIT_PAGE_MAX}`);
      }
      const beforeId = values.cursor === undefined ? undefined : decodeCursor(values.cursor);
      if (values.cursor !== undefined && beforeId === undefined)
        throw new UsageError('--cursor is not valid');
      const now = Date.now();
      const s = await services();
      const page = await s.audit.list({
        type: values.type as AuditEventType | undefined,
        username: values.username,
        clientId: values.clientId,
        since: readTime(values.since, '--since', now),
        until: readTime(values.until, '--until', now),
        limit,
        beforeId,
      });
      return {
        events: page.events.map(describeAuditEvent),
        ...(page.nextCursor ? { next_cursor: page.nextCursor } : {}),
      };
    },
  },
};
