/**
 * Trigger rules (`/api/v1/triggers`, DESIGN §7): an event filter mapped to an action, run a
 * workflow or POST the event signed to a URL; and each rule's outbound deliveries.
 */
import { Type } from 'typebox';
import { principalOf } from '../auth.ts';
import { errorResponses } from '../schemas.ts';
import { pageOf, pageQueryFields } from '../../wire/common.ts';
import type { App, Services } from '../types.ts';
import {
  RuleDeliverySchema,
  RuleInputSchema,
  RulePatchSchema,
  RuleSchema,
} from '../../triggers/rule-model.ts';

const tags = ['triggers'];

const RuleParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });

/** Create and PATCH answers: a secret appears when a webhook rule's secret was just made. */
const RuleWithSecret = Type.Object({
  ...RuleSchema.properties,
  secret: Type.Optional(
    Type.String({ description: 'The HMAC key of webhook deliveries, shown only this once.' }),
  ),
});

export function triggerRuleRoutes(app: App, services: Services): void {
  const rules = services.rules;

  app.post(
    '/api/v1/triggers',
    {
      config: { permission: 'workflows.edit' },
      schema: {
        tags,
        summary:
          'Create a trigger rule: an event filter and an action (run a workflow, or POST the event signed to a URL); a webhook rule answers its secret once',
        body: RuleInputSchema,
        response: { 201: RuleWithSecret, ...errorResponses(400, 401, 403, 415, 422) },
      },
    },
    async (req, reply) => {
      const rule = await rules.create(req.body, principalOf(req).name);
      return reply.status(201).header('location', `/api/v1/triggers/${rule.id}`).send(rule);
    },
  );

  app.get(
    '/api/v1/triggers',
    {
      config: { permission: 'workflows.read' },
      schema: {
        tags,
        summary: 'List trigger rules (never their secrets)',
        response: {
          200: Type.Object({ items: Type.Array(RuleSchema) }),
          ...errorResponses(401, 403),
        },
      },
    },
    async () => ({ items: await rules.list() }),
  );

  app.get(
    '/api/v1/triggers/:id',
    {
      config: { permission: 'workflows.read' },
      schema: {
        tags,
        summary: 'One trigger rule',
        params: RuleParams,
        response: { 200: RuleSchema, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (req) => rules.get(req.params.id),
  );

  app.patch(
    '/api/v1/triggers/:id',
    {
      config: { permission: 'workflows.edit' },
      schema: {
        tags,
        summary: 'Change a trigger rule (name, enabled, event, if, action); checked as on create',
        params: RuleParams,
        body: RulePatchSchema,
        response: { 200: RuleWithSecret, ...errorResponses(400, 401, 403, 404, 415, 422) },
      },
    },
    async (req) => rules.update(req.params.id, req.body),
  );

  app.delete(
    '/api/v1/triggers/:id',
    {
      config: { permission: 'workflows.edit' },
      schema: {
        tags,
        summary: 'Delete a trigger rule: it matches nothing more and its waiting deliveries fail',
        params: RuleParams,
        response: { 204: Type.Null(), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (req, reply) => {
      await rules.delete(req.params.id);
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/api/v1/triggers/:id/deliveries',
    {
      config: { permission: 'workflows.read' },
      schema: {
        tags,
        summary:
          "A webhook rule's delivery attempts, newest first: status code or error, next attempt time, state",
        params: RuleParams,
        querystring: Type.Object(pageQueryFields, { additionalProperties: false }),
        response: { 200: pageOf(RuleDeliverySchema), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (req) => rules.deliveries(req.params.id, req.query),
  );
}
