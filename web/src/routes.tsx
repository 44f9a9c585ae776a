/** The pages and their URLs. The list's filter lives in its query string, so a link shares it. */
import { Route, Switch } from 'wouter';
import { Layout } from './layout.js';
import { AppPage } from './pages/app-page.js';
import { AppsList } from './pages/apps-list.js';

export const appHref = (namespace: string, name: string): string =>
  `/apps/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`;

export function Routes() {
  return (
    <Layout>
      <Switch>
        <Route path="/">
          <AppsList />
        </Route>
        <Route path="/apps/:namespace/:name">
          {(params) => <AppPage namespace={params.namespace} name={params.name} />}
        </Route>
        <Route>
          <p className="page-message">
            No such page. <a href="/">All applications</a>
          </p>
        </Route>
      </Switch>
    </Layout>
  );
}
