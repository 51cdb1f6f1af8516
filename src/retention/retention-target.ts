import type { AuditContext, Executor } from '../audit/record-audit-event';
import type { PseudonymsOf } from '../erasure/recipient-notices';
import type { Policies } from '../policies/load-policies';
import type { RetentionRule } from '../policies/retention-policy';

/**
 * Where a rule stands in its pass over the table: rows are visited in key order, after `afterKey` and
 * before `beforeKey` (the end of the lane, null for the end of the key space).
 */
export interface DueWindow {
  rule: RetentionRule;
  asOf: Date;
  afterKey: string | null;
  beforeKey: string | null;
}

export interface ApplyContext {
  rule: RetentionRule;
  asOf: Date;
  policies: Policies;
  audit: AuditContext;
  pseudonymsOf: PseudonymsOf;
}

/** What one batch did: keys acted on, and keys a legal hold kept out. */
export interface BatchOutcome {
  done: string[];
  held: string[];
}

/**
 * The rows due, their first and last keys, and the first key of each lane but the first: the due keys
 * cut into ranges of about as many rows each. Cutting on the keys themselves, not evenly over the key
 * space, keeps lanes even when keys are time-ordered and the due ones are all among the oldest; the
 * first and last keys keep the outer lanes from walking the rows before and after the due ones (with
 * time-ordered keys, every newer row). Nothing due: no keys, no starts. Fewer rows due than lanes:
 * repeated starts, and lanes with nothing in them.
 */
export interface DueSurvey {
  due: number;
  firstKey: string | null;
  laneStarts: string[];
  lastKey: string | null;
}

/**
 * How one (data class, action) pair is enforced. A due row's own state must stop it from being
 * selected again once the action committed, so a resumed run never acts twice on a row.
 */
export interface AppliedTarget {
  kind: 'applied';
  /** Audit target type of the rows (`return`, `subject_request`). */
  rowType: string;
  /**
   * True when `apply` locks the rows itself and reads their state again under the lock (the erasure
   * module does): the batch's select then only reads, so a row is locked once, not twice.
   */
  applyLocks: boolean;
  /** Due rows after the window's key, in key order, at most `limit`; locked when `lock` is set. */
  selectDue(executor: Executor, window: DueWindow, limit: number, lock: boolean): Promise<string[]>;
  /** The rows due as of `asOf`, and where lanes 2 to `lanes` begin (see `DueSurvey`). */
  surveyDue(executor: Executor, rule: RetentionRule, asOf: Date, lanes: number): Promise<DueSurvey>;
  /** Keys among these that an active legal hold covers as of `asOf`. */
  held(executor: Executor, keys: string[], asOf: Date): Promise<Set<string>>;
  /** Applies the action inside the batch transaction; skips and reports held keys. */
  apply(tx: Executor, keys: string[], context: ApplyContext): Promise<BatchOutcome>;
}

/** A rule the engine reports on but does not apply itself, with the reason (never personal data). */
export interface ReportedTarget {
  kind: 'reported';
  note: string;
  countDue(executor: Executor, rule: RetentionRule, asOf: Date): Promise<number>;
}

export type RetentionTarget = AppliedTarget | ReportedTarget;
