import Fastify from 'fastify';
import postgres from 'postgres';

/*
 * The baseline of `npm run bench -- returns`: the same JSON stored and read back from a plain table,
 * with no encryption, no validation, no authentication and no audit. Run in its own process, like the
 * service, so both are measured the same way.
 */
const sql = postgres(process.env.DATABASE_URL!, { max: 20, onnotice: () => {} });
await sql`create table if not exists bench_plain_returns (id uuid primary key default gen_random_uuid(), body jsonb not null)`;

const app = Fastify({ logger: false });
app.get('/health', async () => ({ status: 'ok' }));
app.post('/v1/returns', async (request, reply) => {
  const [row] =
    await sql`insert into bench_plain_returns (body) values (${sql.json(request.body as never)}) returning id`;
  return reply.code(201).send({ id: row!.id });
});
app.get<{ Params: { id: string } }>('/v1/returns/:id', async (request) => {
  const [row] = await sql`select id, body from bench_plain_returns where id = ${request.params.id}`;
  return { id: row!.id, ...(row!.body as object) };
});
await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT) });
